"""Network namespaces for gVisor containers, one prepared ahead of need.

gVisor copies its namespace's interfaces and routes when it starts, so the namespace must be
complete before runsc runs: its NAT up (a veth of kernel_nat.py, or slirp4netns), the denied
networks routed to the dead end (network.py). Made at the container's start, that was
+60-75 ms of a launch (2 busy cores);
the worker therefore keeps one namespace ready, prepared in the background after each take,
once SPARE_DELAY has passed (not while the container that took the last one starts, on the
same cores) or at once when a container needs it.
A spare is handed over with what the host gained since (its addresses) routed to the dead end
too, as a booted bwrap container's routes are (sandbox.before_hand_over).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from . import kernel_nat
from .network import NetworkPolicy, OutboundNat, new_namespace

log = logging.getLogger("nano_modal.worker")

SPARE_DELAY = 1.0  # seconds after a take before the next spare is prepared: ~a gVisor start


@dataclass
class PreparedNetwork:
    fd: int  # the worker's descriptor holding the namespace
    nat: OutboundNat

    @property
    def path(self) -> str:
        """Where runsc finds the namespace."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    async def close(self) -> None:
        await self.nat.close()
        os.close(self.fd)


class SpareNetworks:
    def __init__(self, policy: NetworkPolicy, kernel: Callable[[], kernel_nat.KernelNat | None]) -> None:
        self.policy = policy
        self.kernel = kernel  # the runtime's NAT: the kernel's, or None for slirp4netns
        self._spare: asyncio.Task[PreparedNetwork | None] | None = None
        self._needed = asyncio.Event()  # a container waits for the spare: no more delay

    async def take(self) -> PreparedNetwork | None:
        """A prepared namespace (the spare, brought up to date, or one made now); None, after a
        warning, if none could be made. The next spare is then prepared in the background."""
        spare, self._spare = self._spare, None
        if spare is not None and (spare.get_loop() is not asyncio.get_running_loop() or spare.cancelled()):
            spare = None  # made under an event loop since closed (asyncio.run per call): it went with it
        self._needed.set()
        prepared = await spare if spare is not None else None
        if prepared is not None:
            try:
                await prepared.nat.refresh_for_gvisor(prepared.fd)
            except (OSError, RuntimeError) as exc:
                log.warning("a gVisor container's network could not be brought up to date: %s", exc)
                await prepared.close()
                prepared = None
        if prepared is None:
            prepared = await self._prepare()
        if self._spare is None:  # else a take that ran meanwhile set one going: a second would leak
            self._needed = needed = asyncio.Event()  # (of this loop)
            self._spare = asyncio.create_task(self._prepare(SPARE_DELAY, needed))
        return prepared

    async def _prepare(self, delay: float = 0.0, needed: asyncio.Event | None = None) -> PreparedNetwork | None:
        if needed is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(needed.wait(), delay)
        fd = new_namespace()
        nat = OutboundNat(self.policy, self.kernel())
        try:
            await nat.prepare_for_gvisor(fd)
        except (OSError, RuntimeError, TimeoutError) as exc:
            log.warning("a gVisor container's network could not be prepared: %s", exc)
            await PreparedNetwork(fd, nat).close()
            return None
        except BaseException:  # cancelled (the worker closes): nothing of it stays behind
            await PreparedNetwork(fd, nat).close()
            raise
        return PreparedNetwork(fd, nat)

    async def close(self) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        spare.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            prepared = await spare
            if prepared is not None:
                await prepared.close()
