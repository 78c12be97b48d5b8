"""The app most tests run: small functions, each exercising one behaviour.

It lives in an importable module so that its functions are shipped by module reference
(the container imports `tests.apps.core_app`), not pickled by value.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nano_modal
from nano_modal import Retries

app = nano_modal.App("core-tests")


def function(**options: Any) -> Any:
    """`@function(...)` with a short scaledown window.

    The whole session shares one worker, whose capacity is finite: idle containers of every
    function tested so far must not pile up and leave no room for the next test's function.
    """
    return app.function(scaledown_window=10, **options)


class CustomError(Exception):
    """Importable on both sides: must come back as this very class."""


class UnrebuildableError(Exception):
    """Pickles, but cannot be rebuilt from its args (its __init__ wants two)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a}/{b}")


# ---------------------------------------------------------------- plain values


@function()
def square(x: int) -> int:
    return x * x


@function()
def add(x: Any, y: Any = 0, *, z: Any = 0) -> Any:
    return x + y + z if z else x + y


@function()
def echo_args(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@function()
def blob_info(data: bytes) -> tuple[int, str]:
    return len(data), hashlib.sha256(data).hexdigest()


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


@function()
def make_bytes(n: int, seed: int) -> bytes:
    return random_bytes(n, seed)


@function()
def slow_identity(x: Any, delay: float) -> Any:
    time.sleep(delay)
    return x


@function()
async def async_double(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


@function()
def touch(path: str, content: Any = "x") -> str:
    Path(path).write_text(str(content))
    return path


@function()
def sleep_then_touch(started: str, marker: str, delay: float) -> str:
    Path(started).write_text(str(os.getpid()))
    time.sleep(delay)
    Path(marker).write_text("the call was not stopped")
    return "finished"


@function()
def ticker(n: int, delay: float) -> Any:
    for i in range(n):
        yield i, time.time()
        time.sleep(delay)


@function()
def where(_: Any = None) -> dict[str, Any]:
    return {
        "is_local": nano_modal.is_local(),
        "input_id": nano_modal.current_input_id(),
        "call_id": nano_modal.current_function_call_id(),
        "container_id": os.environ.get("NANO_MODAL_CONTAINER_ID"),
        "pid": os.getpid(),
    }


# ---------------------------------------------------------------- failures


def _helper_that_raises(message: str) -> None:
    raise ValueError(message)


@function()
def raise_value_error(message: str) -> None:
    _helper_that_raises(message)


@function()
def fail_if(x: int, bad: tuple[int, ...] = ()) -> int:
    if x in bad:
        raise ValueError(f"bad input {x}")
    return x


@function()
def raise_custom(message: str) -> None:
    raise CustomError(message)


@function()
def returns_a_generator(n: int) -> Any:
    """Not a generator function: it returns a generator object."""
    return (i for i in range(n))


@function()
def returns_unpicklable() -> Any:
    import threading

    return threading.Lock()


@function()
def raise_unrebuildable() -> None:
    raise UnrebuildableError("left", "right")


@function()
def raise_container_only_error(message: str) -> None:
    """Raise an exception whose class lives in a module that exists only inside the container."""
    moddir = tempfile.mkdtemp(prefix="container-only-")
    Path(moddir, "nm_container_only_exc.py").write_text("class ContainerOnlyError(Exception):\n    pass\n")
    sys.path.insert(0, moddir)
    import nm_container_only_exc  # type: ignore[import-not-found]

    raise nm_container_only_exc.ContainerOnlyError(message)


# ---------------------------------------------------------------- container deaths, timeouts, retries


def _first_attempt(marker: str) -> bool:
    path = Path(marker)
    if path.exists():
        return False
    path.write_text(str(os.getpid()))
    return True


@function(retries=Retries(max_retries=2, initial_delay=0.1))
def die_once_retried(marker: str) -> str:
    if _first_attempt(marker):
        os._exit(1)
    return "survived"


@function()
def die_once(marker: str) -> str:
    if _first_attempt(marker):
        os._exit(1)
    return "survived"


@function()
def kill9_once(marker: str) -> str:
    if _first_attempt(marker):
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@function()
def die_on(x: int, bad: int) -> int:
    if x == bad:
        os._exit(1)
    return x * 10


@function(max_containers=1)
def die_on_single(x: int, bad: int) -> int:
    if x == bad:
        os._exit(1)
    return x * 10


@function(timeout=1)
def sleepy(delay: float) -> float:
    time.sleep(delay)
    return delay


@function(timeout=1, max_containers=1)
def sleepy_single(delay: float) -> float:
    time.sleep(delay)
    return delay


@function(retries=Retries(max_retries=3, initial_delay=0.1))
def flaky(counter: str, failures: int) -> int:
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt <= failures:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


# ---------------------------------------------------------------- scaling options


@function(max_inputs=1)
def one_shot() -> tuple[str, int]:
    return os.environ["NANO_MODAL_CONTAINER_ID"], os.getpid()


@function(max_containers=1)
def exclusive(x: int, delay: float) -> tuple[int, float, float, str]:
    start = time.time()
    time.sleep(delay)
    return x, start, time.time(), os.environ["NANO_MODAL_CONTAINER_ID"]
