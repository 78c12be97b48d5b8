"""The container's watchdog: an input that overruns its function's timeout ends the container
(its output says so), and a watchdog with nothing to watch sleeps instead of polling."""

from __future__ import annotations

import threading
import time
import types

import pytest

from nano_modal.container import watchdog as watchdog_module
from nano_modal.container.watchdog import Watchdog
from nano_modal.proto import api_pb2


class FakeLink:
    def __init__(self) -> None:
        self.puts: list[tuple[list[api_pb2.FunctionOutput], list[str]]] = []

    def put_outputs(self, outputs: list[api_pb2.FunctionOutput], released: list[str] | None = None) -> None:
        self.puts.append((outputs, list(released or [])))


class Exited(Exception):
    pass


@pytest.fixture
def clock_reads(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time the watchdog module reads the clock (one per turn of its watch)."""
    reads: list[float] = []

    def monotonic() -> float:
        reads.append(time.monotonic())
        return reads[-1]

    monkeypatch.setattr(watchdog_module, "time", types.SimpleNamespace(monotonic=monotonic, sleep=time.sleep))
    return reads


def test_an_idle_watchdog_does_not_wake(clock_reads: list[float]) -> None:
    Watchdog(FakeLink(), "f", timeout=60)  # type: ignore[arg-type]  # (its thread starts with it)
    time.sleep(0.5)
    # The old watch woke every 50 ms (~10 turns here), in every warm container, all its life.
    assert len(clock_reads) <= 2


def test_an_input_that_overruns_its_timeout_ends_the_container(
    clock_reads: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    exited = threading.Event()
    monkeypatch.setattr(watchdog_module.os, "_exit", lambda code: exited.set())
    link = FakeLink()
    dog = Watchdog(link, "f", timeout=0.3)  # type: ignore[arg-type]
    time.sleep(0.05)
    started = time.monotonic()
    dog.begin(api_pb2.ContainerInput(input_id="in-1", idx=0))
    dog.begin(api_pb2.ContainerInput(input_id="in-2", idx=1))
    dog.end("in-2")  # finished in time: not part of the timeout
    assert exited.wait(5)
    took = time.monotonic() - started
    assert 0.3 <= took < 1.0, took
    (outputs, released), *_ = link.puts
    assert [(o.input_id, o.status) for o in outputs] == [("in-1", api_pb2.OUTPUT_STATUS_TIMEOUT)]
    assert "timed out after 0.3s" in outputs[0].exception_repr
    assert released == []
    assert len(clock_reads) < 10  # woken by the new deadline, then at it: no polling meanwhile
