"""The autoscaler sizes a CPU-bound function's pool to the cores, not to WORKER_CPU_OVERCOMMIT:
worker CPU reports in, container placements out (no worker, no container process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.serialization import serialize
from nano_modal.server.control import ControlPlane
from nano_modal.server.scheduler import Scheduler
from nano_modal.server.sql_store import SqlStore
from nano_modal.server.state import Container, ContainerState

INPUTS = 2_000


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore(f"sqlite:///{tmp_path / 'state.db'}")
    control = ControlPlane(store)
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=2, memory_mb=65536))
    yield control
    store.close()


def _mapped_function(control: ControlPlane) -> str:
    """A function (default cpu=0.25) with a deep queue whose pace is known and slow: the
    autoscaler wants many containers for it."""
    app_id = control.create_app("bench", ephemeral=True)
    function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name="work"))
    args = api_pb2.Payload(data=serialize(((), {})))
    control.start_call(
        function_id, api_pb2.CALL_KIND_MAP, [api_pb2.FunctionInput(idx=i, args=args) for i in range(INPUTS)], True
    )
    fn = control.functions[function_id]
    now = time.monotonic()
    fn.finished.extend(now - 1.9 + i * 0.05 for i in range(30))  # 15 inputs/s: minutes to drain
    return function_id


def _run_started(control: ControlPlane, function_id: str) -> list[Container]:
    """Every placed container says hello and takes an input; returns the live ones."""
    fn = control.functions[function_id]
    for worker in control.workers.values():
        worker.to_start = []
    live = control.live_containers(fn)
    for container in live:
        if container.state == ContainerState.STARTING:
            control.container_hello(container)
        if not container.held:
            asyncio.run(control.take_inputs(container, 1, 0))
    return live


def _report(control: ControlPlane, worker_id: str, demand: float, host_busy: float = 0.0) -> None:
    worker = control.workers[worker_id]
    demands = {c.container_id: demand for c in control.containers.on_worker(worker_id) if c.live}
    control.record_cpu(worker, host_busy, demands)


def _scale_rounds(control: ControlPlane, function_id: str, demand: float, rounds: int = 20) -> int:
    scheduler = Scheduler(control)
    for _ in range(rounds):
        scheduler.autoscale()
        _run_started(control, function_id)
        for worker_id in control.workers:
            _report(control, worker_id, demand, host_busy=min(2.0, demand * 40))
    return len(control.live_containers(control.functions[function_id]))


def test_cpu_bound_containers_are_one_per_core(control: ControlPlane) -> None:
    """With cpu=0.25 and x4 overcommit the autoscaler started 32 containers on 2 cores for a
    map of pure-Python inputs; each of them demands a whole core."""
    function_id = _mapped_function(control)
    assert _scale_rounds(control, function_id, demand=1.0) == 2


def test_io_bound_containers_still_overcommit_the_cores(control: ControlPlane) -> None:
    """Containers that sleep while holding inputs keep today's pool: x4 the cores' worth."""
    function_id = _mapped_function(control)
    assert _scale_rounds(control, function_id, demand=0.02) == 32


def test_unmeasured_function_waits_for_a_measurement_before_overcommitting(control: ControlPlane) -> None:
    function_id = _mapped_function(control)
    scheduler = Scheduler(control)
    for _ in range(20):
        scheduler.autoscale()
        _run_started(control, function_id)  # no CPU report: it may be CPU-bound
    assert control.cpu_bound(control.functions[function_id]) is None
    assert len(control.live_containers(control.functions[function_id])) == 2


def test_no_cpu_bound_container_goes_to_a_saturated_worker(control: ControlPlane) -> None:
    busy_app = control.create_app("busy", ephemeral=True)
    busy = control.create_function(busy_app, api_pb2.FunctionDefinition(name="busy", cpu=0.1, max_containers=2))
    busy_fn = control.functions[busy]
    args = api_pb2.Payload(data=serialize(((), {})))
    control.start_call(busy, api_pb2.CALL_KIND_MAP, [api_pb2.FunctionInput(idx=i, args=args) for i in range(9)], True)
    for _ in range(2):  # another function's two CPU-bound containers fill wk-1's cores
        container = control.place_container(busy_fn)
        assert container is not None and container.worker_id == "wk-1"
    _run_started(control, busy)
    control.register_worker(api_pb2.WorkerRegisterRequest(worker_id="wk-2", hostname="h2", cpu=2, memory_mb=65536))
    function_id = _mapped_function(control)
    scheduler = Scheduler(control)
    for _ in range(20):
        scheduler.autoscale()
        _run_started(control, function_id)
        _report(control, "wk-2", 1.0)
        _report(control, "wk-1", 1.0)
    placed = [c.worker_id for c in control.live_containers(control.functions[function_id])]
    assert placed == ["wk-2", "wk-2"]  # wk-1's cores are taken; wk-2 has room for two


def test_the_worker_poll_carries_the_cpu_report(control: ControlPlane) -> None:
    function_id = _mapped_function(control)
    Scheduler(control).autoscale()
    container = _run_started(control, function_id)[0]
    request = api_pb2.WorkerPollRequest(
        worker_id="wk-1", running_container_ids=[container.container_id], timeout=0, cpu_measured=True
    )
    request.host_cpu_busy = 1.5
    request.container_cpu_demand[container.container_id] = 0.97
    for _ in range(2):  # busy at two reports in a row: busy in between
        asyncio.run(control.poll_worker(request))
    assert control.workers["wk-1"].host_cpu_busy == 1.5
    assert control.cpu_bound(control.functions[function_id]) is True


def test_a_cpu_bound_function_stays_cpu_bound_while_its_containers_idle(control: ControlPlane) -> None:
    """Between two maps its containers hold nothing and demand nothing: that said "I/O-bound",
    and the next map started 7-12 containers on 2 cores."""
    function_id = _mapped_function(control)
    fn = control.functions[function_id]
    _scale_rounds(control, function_id, demand=1.0)
    for container in control.live_containers(fn):
        for item in list(container.held.values()):
            asyncio.run(
                control.put_outputs(
                    container,
                    [api_pb2.FunctionOutput(input_id=item.input_id, status=api_pb2.OUTPUT_STATUS_SUCCESS)],
                    [],
                )
            )
    fn.queue.clear()
    for _ in range(3):
        _report(control, "wk-1", 0.0)  # idle
    assert control.cpu_bound(fn) is True


def test_a_container_just_given_inputs_is_not_measured_yet(control: ControlPlane) -> None:
    """Its report covers time it spent idle (or starting): only one busy at two reports in a row counts."""
    function_id = _mapped_function(control)
    Scheduler(control).autoscale()
    _run_started(control, function_id)
    _report(control, "wk-1", 0.01)
    assert control.cpu_bound(control.functions[function_id]) is None


def test_idle_containers_do_not_saturate_a_worker(control: ControlPlane) -> None:
    """Warm containers of functions not measured yet counted a core each though idle: two of
    them kept every other function from a second container (and had the scheduler evict them)."""
    for name in ("a", "b"):
        app_id = control.create_app(name, ephemeral=True)
        fn = control.functions[control.create_function(app_id, api_pb2.FunctionDefinition(name=name))]
        container = control.place_container(fn)
        assert container is not None
        control.container_hello(container)  # warm, holding nothing
    assert not control.saturated(control.workers["wk-1"])
