"""Options Modal programs pass that go beyond the basics: gpu=, restrict_modal_access=,
renamed options and decorators, and resources no worker can provide."""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import pytest

import nano_modal
from nano_modal import _gpu
from nano_modal.exception import InvalidError


def test_gpu_specs() -> None:
    assert _gpu.normalize(None) == ""
    assert _gpu.normalize("t4") == "T4:1"
    assert _gpu.normalize(["H100:2", "A100-80GB:2"]) == "H100:2,A100-80GB:2"
    for bad in ("", "T4:0", "T4:9", "T4:x", ":2", []):
        with pytest.raises(InvalidError, match="gpu"):
            _gpu.normalize(bad)
    a100 = _gpu.GpuRequest("A100-80GB", 1)
    assert a100.matches("NVIDIA A100-SXM4-80GB") and not a100.matches("NVIDIA A100-SXM4-40GB")
    assert not _gpu.GpuRequest("L4", 1).matches("NVIDIA L40S") and _gpu.GpuRequest("T4", 1).matches("Tesla T4")
    devices = ["Tesla T4", "NVIDIA A100-SXM4-80GB", "Tesla T4"]
    assert _gpu.pick(_gpu.parse("T4:2"), devices, set()) == (0, 2)
    assert _gpu.pick(_gpu.parse("T4:2"), devices, {0}) is None
    assert _gpu.pick(_gpu.parse("H100,A100"), devices, set()) == (1,)  # the fallback
    assert _gpu.pick(_gpu.parse("ANY:3"), devices, set()) == (0, 1, 2)


def test_what_no_worker_can_run_fails_with_the_reason(cluster: Any) -> None:
    app = nano_modal.App("porting-unplaceable")

    @app.function(serialized=True, gpu="A100:2")
    def needs_gpus() -> int:
        return 1

    @app.function(serialized=True, memory=50_000_000)
    def needs_memory() -> int:
        return 1

    with app.run():
        with pytest.raises(InvalidError, match=r"asks for gpu='A100:2'; the workers' GPUs: none"):
            needs_gpus.remote()
        with pytest.raises(InvalidError, match=r"asks for cpu=0.25 and memory=50,000,000 MiB"):
            needs_memory.remote()


def test_restrict_modal_access(cluster: Any) -> None:
    app = nano_modal.App("porting-restricted")
    name = f"restricted-{uuid.uuid4().hex[:8]}"
    nano_modal.Dict.from_name(name, create_if_missing=True)["k"] = "platform data"
    vol = nano_modal.Volume.from_name(f"{name}-vol", create_if_missing=True)

    def probe(blob: bytes) -> dict[str, Any]:
        import pathlib

        import nano_modal

        out: dict[str, Any] = {"size": len(blob)}
        try:
            out["dict"] = nano_modal.Dict.from_name(name).get("k")
        except Exception as exc:
            out["dict"] = f"{type(exc).__name__}: {exc}"
        pathlib.Path("/data/written.txt").write_text("mine")
        vol.commit()  # its own volume still works (the handle came with the function)
        return out

    restricted = app.function(serialized=True, restrict_modal_access=True, volumes={"/data": vol}, name="r")(probe)
    open_ = app.function(serialized=True, volumes={"/data": vol}, name="o")(probe)
    big = b"x" * (3 * 1024 * 1024)  # through the blob store, both ways of the call
    with app.run():
        locked = restricted.remote(big)
        unlocked = open_.remote(big)
    assert locked["size"] == unlocked["size"] == len(big)
    assert unlocked["dict"] == "platform data"
    assert locked["dict"].startswith("AuthError") and "restrict_modal_access=True" in locked["dict"]
    assert b"".join(vol.read_file("written.txt")) == b"mine"


def test_renamed_options_and_decorators(cluster: Any) -> None:
    app = nano_modal.App("porting-renamed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        @app.function(serialized=True, concurrency_limit=2, keep_warm=1, container_idle_timeout=30)
        @nano_modal.web_endpoint(method="POST")
        def legacy(x: int = 1) -> int:
            return x

    assert sorted(str(w.message).split("=")[0] for w in caught if w.category is DeprecationWarning) == [
        "concurrency_limit",
        "container_idle_timeout",
        "keep_warm",
        "web_endpoint is called fastapi_endpoint now",
    ]
    options = legacy.options
    assert (options.max_containers, options.min_containers, options.scaledown_window) == (2, 1, 30)
    assert options.web is not None and options.web.kind == "fastapi_endpoint"
    with pytest.raises(InvalidError, match="pass max_containers= only"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        app.function(serialized=True, max_containers=3, concurrency_limit=2)(lambda: 1)
