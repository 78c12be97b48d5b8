"""A sequential container fetches ahead (and in batches) only inputs it has measured to be short:
the first input, a slow one and a web request come one at a time with nothing fetched ahead, so
that no container holds, waiting, inputs another could run now (a test of concurrent Dict
writers saw one container take all 8 of its inputs; web requests waited behind others until
the gateway's 504). A fake link to the server stands in for it; no container process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from nano_modal import config
from nano_modal.container import runner as runner_module
from nano_modal.container.runner import BATCH_SECONDS, Runner
from nano_modal.proto import api_pb2
from nano_modal.serialization import deserialize, serialize

RUNNING = [0]  # inputs FakeTarget's function is running now


class FakeLink:
    """Hands out `delays` as inputs; records, for each fetch, how many it asked for, how many
    inputs were then out (handed, no output yet: more than 0 is a fetch ahead, or one beside an
    output still on its way), how many were running, and whether an output was being sent."""

    def __init__(
        self, delays: list[float], method_name: str = "", per_fetch: int = 0, put_seconds: float = 0.0
    ) -> None:
        self.per_fetch = per_fetch  # most inputs a fetch gets (0: as many as asked)
        self.put_seconds = put_seconds  # how long the server takes to take an output in
        self.putting = 0  # outputs being sent now
        self.beside_put: list[bool] = []  # per fetch: was an output on its way?
        self.running_at_fetch: list[int] = []
        self.queue = [
            api_pb2.ContainerInput(
                input_id=f"in-{i}", idx=i, method_name=method_name, args=api_pb2.Payload(data=serialize(((d,), {})))
            )
            for i, d in enumerate(delays)
        ]
        self.lock = threading.Lock()
        self.out: set[str] = set()
        self.fetches: list[tuple[int, int]] = []  # (asked for, out at the time)
        self.results: dict[str, Any] = {}

    def get_inputs(self, max_inputs: int, timeout: float) -> api_pb2.ContainerGetInputsResponse:
        with self.lock:
            self.fetches.append((max_inputs, len(self.out)))
            self.beside_put.append(self.putting > 0)
            self.running_at_fetch.append(RUNNING[0])
            if not self.queue:
                return api_pb2.ContainerGetInputsResponse(shutdown=True)
            take = min(max_inputs, self.per_fetch or max_inputs)
            batch, self.queue = self.queue[:take], self.queue[take:]
            self.out.update(item.input_id for item in batch)
            return api_pb2.ContainerGetInputsResponse(inputs=batch)

    def put_outputs(self, outputs: list[api_pb2.FunctionOutput], released: list[str] | None = None) -> None:
        with self.lock:
            self.putting += 1
        time.sleep(self.put_seconds)
        with self.lock:
            self.putting -= 1
            for output in outputs:
                self.out.discard(output.input_id)
                self.results[output.input_id] = deserialize(output.data.data, "result")

    def read_payload(self, payload: api_pb2.Payload) -> bytes:
        return payload.data

    def payload(self, data: bytes) -> api_pb2.Payload:
        return api_pb2.Payload(data=data)


class FakeTarget:
    def resolve(self, method_name: str) -> Any:
        def work(delay: float, *inbound: Any) -> float:  # (a web handler also gets its inbound)
            RUNNING[0] += 1
            try:
                time.sleep(delay)
            finally:
                RUNNING[0] -= 1
            return delay

        return work


class NoLogSync:
    """LogSync's interface, doing nothing: the real one replaces sys.stdout (pytest's capture)."""

    def __init__(self, concurrent: bool = False) -> None:
        del concurrent

    def begin(self, call_id: str) -> None:
        pass

    def end(self, call_id: str) -> None:
        pass

    def mark(self, input_id: str) -> int:
        return 0


@pytest.fixture(autouse=True)
def _no_stdout_wrapping(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(runner_module, "LogSync", NoLogSync)  # it replaces sys.stdout: pytest's capture
    yield


def _serve(link: FakeLink) -> None:
    definition = api_pb2.FunctionDefinition(name="work", timeout=60)
    Runner(link, definition, FakeTarget()).serve()  # type: ignore[arg-type]
    assert not link.queue and not link.out


def test_slow_inputs_are_fetched_one_at_a_time_with_nothing_ahead() -> None:
    link = FakeLink([BATCH_SECONDS * 0.6] * 4)
    _serve(link)
    assert [asked for asked, _ in link.fetches] == [1] * 5  # four inputs, then the shutdown
    assert link.running_at_fetch == [0] * 5  # never fetched while one runs
    assert all(out <= 1 for _, out in link.fetches)  # at most the one whose output is on its way


def test_a_slow_inputs_output_travels_while_the_next_is_fetched() -> None:
    """A put waits for the output's durable write (~2 ms here): a container running inputs too
    long to batch no longer waits for it before asking for the next one."""
    link = FakeLink([BATCH_SECONDS * 0.6] * 4, put_seconds=0.05)
    _serve(link)
    assert link.running_at_fetch == [0] * 5
    assert any(link.beside_put[1:])  # the old runner sent each output, then fetched


def test_a_batchs_outputs_travel_while_the_next_batch_runs() -> None:
    link = FakeLink([0.001] * 400, put_seconds=0.02)
    _serve(link)
    assert len(link.results) == 400
    # Fetches made while the previous batch's put was still on its way, i.e. the next batch was
    # fetched (ahead) and running before that output reached the server; none on the old runner.
    assert sum(link.beside_put) >= 2


def test_short_inputs_are_batched_and_fetched_ahead_once_measured() -> None:
    link = FakeLink([0.0] * 300)
    _serve(link)
    assert link.fetches[0] == (1, 0)  # the first input is not measured yet: alone
    assert link.fetches[1][1] == 0  # nothing was fetched ahead of the first input
    # (A loaded host may stretch an input past the threshold now and then: not every fetch is full.)
    assert any(asked == config.CONTAINER_MAX_BATCH and out > 0 for asked, out in link.fetches)
    assert len(link.results) == 300


def test_web_requests_are_never_fetched_ahead() -> None:
    link = FakeLink([0.0] * 5, method_name=config.WEB_METHOD + ".greet")
    _serve(link)
    assert link.fetches == [(1, 0)] * 6


def test_a_lone_input_is_answered_before_the_next_fetch() -> None:
    """Warm .remote() calls one after another: the server has one input at a time. Its output
    goes out before the next fetch (a fetch sent ahead reached the server first, which handled
    it before the output, on every call's critical path)."""
    link = FakeLink([0.0] * 20, per_fetch=1)
    _serve(link)
    assert len(link.results) == 20
    assert all(out == 0 for _, out in link.fetches)  # no fetch while an input was out


class BrokenLink(FakeLink):
    def put_outputs(self, outputs: list[api_pb2.FunctionOutput], released: list[str] | None = None) -> None:
        raise ConnectionError("the server is gone")


@pytest.mark.parametrize("delay", [0.001, BATCH_SECONDS * 0.6])
def test_an_output_that_cannot_be_sent_ends_the_container(delay: float) -> None:
    """Outputs sent on their own thread: a failed send still ends the serving loop with its
    error (the server then runs the container's inputs again), and nothing is sent after it."""
    link = BrokenLink([delay] * 300)
    definition = api_pb2.FunctionDefinition(name="work", timeout=60)
    with pytest.raises(ConnectionError, match="the server is gone"):
        Runner(link, definition, FakeTarget()).serve()  # type: ignore[arg-type]
    assert link.queue  # it stopped asking for more
