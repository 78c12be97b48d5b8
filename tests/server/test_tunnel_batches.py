"""server/tunnels.py without processes: a poll hands the container at most one gRPC message's
worth of request bodies (the rest wait for its next poll), and a closed tunnel fails its callers."""

from __future__ import annotations

import asyncio

import pytest

from nano_modal import config
from nano_modal.proto import api_pb2
from nano_modal.server.tunnels import PortForwarded, TunnelGone, Tunnels


def test_a_poll_takes_at_most_one_messages_worth_of_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "TUNNEL_MAX_BODY", 100)

    async def go() -> list[list[int]]:
        tunnels = Tunnels()
        key = tunnels.start("ct-1", 8000)
        with pytest.raises(PortForwarded):
            tunnels.start("ct-1", 8000)
        callers = [asyncio.create_task(tunnels.request(key, "POST", "/", [], b"x" * 60)) for _ in range(3)]
        await asyncio.sleep(0)
        sizes = []
        for _ in range(3):
            taken, closed = await tunnels.next("ct-1", key, 0.1)
            assert not closed
            sizes.append([len(r.body) for r in taken])
            for request in taken:
                answer = api_pb2.TunnelRespondRequest(tunnel_key=key, request_key=request.request_key, status=200)
                tunnels.respond("ct-1", answer)
        assert [c.status for c in await asyncio.gather(*callers)] == [200, 200, 200]
        assert await tunnels.next("ct-2", key, 0.1) == ([], True)  # another container: not its tunnel
        waiting = asyncio.create_task(tunnels.request(key, "GET", "/", [], b""))
        await asyncio.sleep(0)
        tunnels.container_exited("ct-1")
        with pytest.raises(TunnelGone):
            await waiting
        return sizes

    assert asyncio.run(go()) == [[60], [60], [60]]  # 60 + 60 > 100: one per poll
