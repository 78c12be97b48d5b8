"""Functions for the Modal-parity tests (tests/test_modal_parity.py), shipped by module reference."""

from __future__ import annotations

import os
import time
from typing import Any

import nano_modal

app = nano_modal.App("parity-tests")
helpers = nano_modal.App("parity-helpers")  # included into `app` below, as a split-up program does


@app.function(env={"GREETING": "hello from env="}, region="us-east-1", cloud="aws", buffer_containers=2)
def environment() -> dict[str, str]:
    keys = ("GREETING", "MODAL_TASK_ID", "MODAL_IS_REMOTE", "MODAL_ENVIRONMENT", "MODAL_IMAGE_ID", "MODAL_REGION")
    return {key: os.environ.get(key, "<unset>") for key in keys}


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
def fail(x: int) -> int:
    raise ValueError(f"fail({x})")


@app.function()
def container_info(_: int = 0) -> dict[str, Any]:
    time.sleep(0.2)
    return {"pid": os.getpid(), "extra": os.environ.get("EXTRA", "")}


@app.function()
def batch_size(xs: Any) -> Any:
    # With batching, a list in and a list out; without, one input: a "batch" of one.
    return [len(xs)] * len(xs) if isinstance(xs, list) else 1


@app.cls(enable_memory_snapshot=True, routing_region="us-east", env={"MODE": "cls"})
class Greeter:
    @nano_modal.method()
    def greet(self, name: str) -> str:
        return f"{os.environ.get('MODE')}: hi {name}"


@helpers.function()
def helper(x: int) -> int:
    return x + 1000


app.include(helpers)
