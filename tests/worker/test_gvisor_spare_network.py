"""The gVisor worker's spare network namespace (worker/gvisor_network.py): containers that start
at once each get a namespace, and none is left behind once the worker closes."""

from __future__ import annotations

import asyncio
import os

import pytest

from nano_modal.worker import kernel_nat
from nano_modal.worker.gvisor_network import SpareNetworks
from nano_modal.worker.network import NetworkPolicy, slirp_binary

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or slirp_binary() is None, reason="needs root (network namespaces) and slirp4netns"
)


def _links(kernel: kernel_nat.KernelNat | None) -> list[str]:
    """The host's ends of this process's kernel NAT links (none under slirp4netns)."""
    prefix = kernel.if_prefix if kernel is not None else None
    return [name for name in os.listdir("/sys/class/net") if prefix and name.startswith(prefix)]


@pytest.mark.parametrize("nat", ["kernel", "slirp4netns"])
def test_takes_at_once_leave_no_spare_behind(nat: str) -> None:
    """Each take set the next spare going; two at once made two, and the first was dropped
    unclosed (its namespace and slirp4netns, or its veth, kept until the worker exited)."""
    if nat == "kernel" and kernel_nat.unavailable() is not None:
        pytest.skip(f"no kernel NAT here: {kernel_nat.unavailable()}")
    kernel = kernel_nat.shared if nat == "kernel" else lambda: None
    links = _links(kernel())

    async def scenario() -> set[asyncio.Task[object]]:
        spares = SpareNetworks(NetworkPolicy(), kernel)
        taken = await asyncio.gather(spares.take(), spares.take(), spares.take())
        assert all(prepared is not None for prepared in taken)
        await spares.close()
        for prepared in taken:
            assert prepared is not None
            await prepared.close()
        return {task for task in asyncio.all_tasks() if task is not asyncio.current_task() and not task.done()}

    assert asyncio.run(scenario()) == set()
    assert _links(kernel()) == links
