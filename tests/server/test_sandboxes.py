"""The server's sandbox bookkeeping on its own (no worker): output retention, forgetting, scopes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nano_modal.proto import api_pb2
from nano_modal.server import sandboxes
from nano_modal.server.control import ControlPlane, NotFound
from nano_modal.server.sandboxes import SandboxPlane
from nano_modal.server.sql_store import SqlStore


async def _plane(tmp_path: Path) -> tuple[SandboxPlane, sandboxes.SandboxState]:
    control = ControlPlane(SqlStore(f"sqlite:///{tmp_path / 'state.db'}"))
    control.register_worker(api_pb2.WorkerRegisterRequest(hostname="h", cpu=2, memory_mb=4096, worker_id="wk-1"))
    plane = SandboxPlane(control, lambda ids: {})
    app_id = control.create_app("a", ephemeral=True)
    sb = await plane.create(api_pb2.SandboxCreateRequest(app_id=app_id, entrypoint_args=["x"]))
    return plane, sb


def test_a_slow_reader_skips_output_beyond_what_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxes, "OUTPUT_KEEP", 10)

    async def main() -> None:
        plane, sb = await _plane(tmp_path)
        plane._up(sb, api_pb2.SandboxRelayUp(exec_id=sb.sandbox_id, fd=1, data=b"0123456789"))
        first = await plane.read(sb.sandbox_id, 1, 0, 0)
        assert (first.data, first.next_offset) == (b"0123456789", 10)
        plane._up(sb, api_pb2.SandboxRelayUp(exec_id=sb.sandbox_id, fd=1, data=b"abcdef"))
        assert (await plane.read(sb.sandbox_id, 1, 10, 0)).data == b"abcdef"  # in step: nothing lost
        late = await plane.read(sb.sandbox_id, 1, 0, 0)  # behind the kept window: from its start
        assert (late.data, late.next_offset) == (b"6789abcdef", 16)
        plane._up(sb, api_pb2.SandboxRelayUp(exec_id=sb.sandbox_id, exited=True, exit_code=0))
        assert (await plane.read(sb.sandbox_id, 1, 16, 0)).eof

    asyncio.run(main())


def test_finished_sandboxes_are_forgotten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxes, "FORGET_AFTER", 0.0)

    async def main() -> None:
        plane, sb = await _plane(tmp_path)
        plane.reap()
        assert plane.get(sb.sandbox_id) is sb  # running: kept
        plane.control.container_exited(sb.sandbox_id, 0, "")
        assert sb.done and sb.result == "failed"  # its entrypoint never reported an exit
        await asyncio.sleep(0.01)
        plane.reap()
        with pytest.raises(NotFound):
            plane.get(sb.sandbox_id)
        assert sb.sandbox_id not in plane.control.functions

    asyncio.run(main())


def test_a_scope_sees_its_own_apps_sandboxes_only(tmp_path: Path) -> None:
    async def main() -> None:
        plane, sb = await _plane(tmp_path)
        assert plane.get(sb.sandbox_id, scope=sb.app_id) is sb
        with pytest.raises(NotFound):
            plane.get(sb.sandbox_id, scope="ap-other")
        with pytest.raises(NotFound):
            plane.exec(api_pb2.ContainerExecRequest(container_id=sb.sandbox_id, argv=["ls"]), scope="ap-other")
        with pytest.raises(NotFound):
            await plane.read(sb.sandbox_id, 1, 0, 0, scope="ap-other")
        assert plane.matching("", {}, False, scope="ap-other") == []

    asyncio.run(main())
