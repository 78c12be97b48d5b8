"""The container state machine, driven in-process: events in, transitions and commands out.

No server, no worker: `Containers` alone (as dask.distributed's `WorkerState` tests do);
test_control_plane_memory.py drives a whole `ControlPlane` on a SQLite store."""

from __future__ import annotations

import time

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server.containers import (
    AnnounceExit,
    Containers,
    CountStartFailure,
    InvalidTransition,
    SettleHeldInputs,
    StopOnWorker,
    WakeFunction,
)
from nano_modal.server.state import Container, ContainerState, QueuedInput
from nano_modal.server.workspace_limits import Limits, Usage, full, too_big

S = ContainerState


def _container(n: int, function_id: str = "fu-1", worker_id: str = "wk-1") -> Container:
    return Container(f"ta-{n}", function_id, "ap-1", worker_id, f"token-{n}", 1.0, 128)


def _item(n: int) -> QueuedInput:
    return QueuedInput(f"in-{n}", "fc-1", "fu-1", n, api_pb2.Payload(), 0)


def test_a_started_container_is_indexed_by_function_worker_and_token() -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    assert states.get("ta-1") is c
    assert states.by_token("token-1") is c
    assert states.live_of_function("fu-1") == [c]
    assert states.on_worker("wk-1") == [c]
    assert states.reserved("wk-1") == (1.0, 128)
    assert states.starting("wk-1") == 1


def test_a_sandbox_container_has_no_token() -> None:
    states = Containers()
    states.add(_container(1), with_token=False)
    assert states.by_token("token-1") is None


def test_hello_then_stop_then_exit_returns_the_commands_in_order() -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    assert states.transition(c, S.RUNNING, "hello") == []
    assert states.transition(c, S.STOPPING, "scaled down") == [StopOnWorker("wk-1", "ta-1"), WakeFunction("fu-1")]
    assert c.state == S.STOPPING
    assert states.live_of_function("fu-1") == []  # stopping is not live, but still holds its room
    assert states.reserved("wk-1") == (1.0, 128)
    assert states.transition(c, S.EXITED, "exited", exit_code=0) == [AnnounceExit(c, 0, "exited")]
    assert states.reserved("wk-1") == (0, 0)
    assert states.by_token("token-1") is None
    assert states.get("ta-1") is c  # kept for the retention window


def test_an_exit_before_hello_counts_as_a_start_failure() -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    commands = states.transition(c, S.EXITED, "crashed", exit_code=3)
    assert commands == [CountStartFailure("fu-1", 3, "crashed"), AnnounceExit(c, 3, "crashed")]


def test_a_worker_loss_before_hello_is_not_a_start_failure() -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    assert states.transition(c, S.EXITED, "worker lost", exit_code=-1, blame_inputs=False) == [
        AnnounceExit(c, -1, "worker lost")
    ]


def test_held_inputs_are_handed_back_on_exit_not_dropped() -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    states.transition(c, S.RUNNING)
    c.held = {"in-1": _item(1), "in-2": _item(2)}
    commands = states.transition(c, S.EXITED, "oom", exit_code=137)
    assert commands[0] == SettleHeldInputs(c, (_item(1), _item(2)), 137, "oom", True)
    assert c.held == {}


@pytest.mark.parametrize(("start", "target"), [(S.STOPPING, S.RUNNING), (S.RUNNING, S.STARTING)])
def test_moves_outside_the_table_are_refused(start: ContainerState, target: ContainerState) -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    if start != S.STARTING:
        states.transition(c, S.RUNNING)
    if start == S.STOPPING:
        states.transition(c, S.STOPPING)
    with pytest.raises(InvalidTransition, match=f"{start.value} -> {target.value}"):
        states.transition(c, target)


def test_an_exited_container_cannot_come_back() -> None:
    states = Containers()
    c = _container(1)
    states.add(c)
    states.transition(c, S.EXITED)
    for target in (S.STARTING, S.RUNNING, S.STOPPING):
        with pytest.raises(InvalidTransition):
            states.transition(c, target)
    assert states.transition(c, S.EXITED) == []  # a second exit report is harmless


def test_a_thousand_start_exit_cycles_leave_nothing_after_the_retention_window() -> None:
    states = Containers(retention=60.0)
    for n in range(1000):
        c = _container(n, function_id=f"fu-{n % 7}", worker_id=f"wk-{n % 3}")
        states.add(c)
        states.transition(c, S.RUNNING)
        states.transition(c, S.EXITED)
    assert len(states) == 1000  # still within the window: late logs find them
    assert states.forget_expired() == 0
    assert states.forget_expired(now=time.monotonic() + 61.0) == 1000
    assert len(states) == 0
    assert states.active() == [] and states._by_function == {} and states._by_worker == {}
    assert states._by_token == {}


def test_a_workspaces_usage_counts_its_containers_until_they_exit() -> None:
    states = Containers()
    a1, a2, b1 = _container(1), _container(2), _container(3)
    b1.workspace = "team-b"
    for c in (a1, a2, b1):
        states.add(c)
    assert states.usage("main") == Usage(2, 2.0, 256) and states.usage("team-b") == Usage(1, 1.0, 128)
    states.transition(a1, S.STOPPING)  # a stopping container still holds its room
    assert states.usage("main").containers == 2
    states.transition(a1, S.EXITED)
    assert states.usage("main") == Usage(1, 1.0, 128) and states.usage("nobody") == Usage()
    limits = Limits(max_containers=2, max_cpu=1.5)
    assert full("main", limits, states.usage("main"), 0.5, 128) is None
    assert full("main", limits, states.usage("main"), 1.0, 128) == "workspace 'main' holds cpu=1 of its limit of 1.5"
    assert too_big("main", limits, 2.0, 128) == "it asks for cpu=2 and workspace 'main' is limited to cpu=1.5"


def test_a_workers_tallies_follow_its_containers_exactly() -> None:
    """Placement reads a worker's room from tallies kept as containers come and go (it no longer
    walks them): they must come back to exactly nothing, with cpu sums of 0.1 too."""
    states = Containers()
    tenths = [Container(f"ta-{n}", "fu-1", "ap-1", "wk-1", f"token-{n}", 0.1, 100) for n in range(10)]
    for c in tenths:
        states.add(c)
    assert states.starting("wk-1") == 10 and states.reserved("wk-1") == (1.0, 1000)
    for c in tenths[:4]:
        states.transition(c, S.RUNNING)
    assert states.starting("wk-1") == 6 and states.reserved("wk-1") == (1.0, 1000)
    for c in tenths:
        states.transition(c, S.STOPPING)
    assert states.starting("wk-1") == 0 and states.reserved("wk-1") == (1.0, 1000)  # held until they exit
    for c in tenths:
        states.transition(c, S.EXITED)
    assert states.reserved("wk-1") == (0.0, 0) and states.starting("wk-1") == 0 and states.usage("main") == Usage()
