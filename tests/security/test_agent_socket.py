"""The worker's sockets in a directory a container can write: a container that swaps the socket
for a symlink before the worker touches it by name must not make the root worker chmod the
host file the symlink points to."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from nano_modal.worker import sandbox_relay
from nano_modal.worker.sandbox import ServerLink
from nano_modal.worker.sandbox_relay import AgentLink


def _swap_for_symlink(path: Path, target: Path) -> None:
    """What a container does: replace the socket it sees with a link to a host file."""
    path.unlink()
    path.symlink_to(target)


@pytest.mark.parametrize("kind", ["agent", "server"])
def test_a_swapped_socket_does_not_chmod_a_host_file(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host_file = tmp_path / "host-file"
    host_file.write_text("the host's")
    host_file.chmod(0o644)
    before = stat.S_IMODE(host_file.stat().st_mode)
    real_start = asyncio.start_unix_server

    async def start_then_swap(*args: object, **kwargs: object) -> asyncio.AbstractServer:
        server = await real_start(*args, **kwargs)  # type: ignore[arg-type]
        path = kwargs.get("path") or kwargs["sock"].getsockname()  # type: ignore[union-attr]
        _swap_for_symlink(Path(str(path)), host_file)  # the race, won by the container every time
        return server

    monkeypatch.setattr(asyncio, "start_unix_server", start_then_swap)
    monkeypatch.setattr(sandbox_relay.asyncio, "start_unix_server", start_then_swap)

    async def main() -> Path:
        link = AgentLink() if kind == "agent" else ServerLink("127.0.0.1:1")
        try:
            await link.start()
            return link.socket
        finally:
            if isinstance(link, AgentLink):
                link.close()
            else:
                await link.close()

    socket_path = asyncio.run(main())
    assert stat.S_IMODE(host_file.stat().st_mode) == before == 0o644
    assert host_file.read_text() == "the host's"
    assert not socket_path.exists()  # and the worker cleaned up its directory


def test_the_socket_is_born_private(tmp_path: Path) -> None:
    async def main() -> int:
        old = os.umask(0)  # even with a permissive umask
        try:
            link = AgentLink()
            await link.start()
            mode = stat.S_IMODE(link.socket.stat().st_mode)
            link.close()
            return mode
        finally:
            os.umask(old)

    assert asyncio.run(main()) == 0o600
