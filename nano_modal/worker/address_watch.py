"""Addresses the host gains while containers run: denied to running containers too, where it can be.

A container's routes deny the host's own addresses as they were listed when its network was
made (network.py). An address the host gains later (a new interface, DHCP, a VPN) was
reachable from every container already running. The worker therefore listens to the kernel's
address announcements (rtnetlink, RTMGRP_IPV4_IFADDR: no polling, told within milliseconds)
and, on each new address, has the runtime deny the policy as it stands now to its running
containers: under bwrap a `route replace prohibit` in each container's namespace. gVisor's
routes are its own copy, made when the sandbox started, and cannot be changed from outside:
under slirp4netns its running containers keep reaching the new address until they end, and
the worker says so. (Under kernel NAT the host's nftables table refuses the host's addresses
to every container per packet, gVisor's too: the routes refreshed here are a second wall.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

log = logging.getLogger("nano_modal.worker")

_RTMGRP_IPV4_IFADDR = 0x10  # the multicast group of IPv4 address changes (linux/rtnetlink.h)
_RTM_NEWADDR = 20
_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_RECEIVE_SIZE = 65536


def new_addresses(data: bytes) -> bool:
    """Whether a datagram of rtnetlink messages announces an address (not only removals)."""
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, kind = _NLMSG_HEADER.unpack_from(data, offset)[:2]
        if kind == _RTM_NEWADDR:
            return True
        if length < _NLMSG_HEADER.size:
            return False
        offset += (length + 3) & ~3  # messages are 4-byte aligned
    return False


class AddressWatch:
    """Calls `deny_again` after the host gains an IPv4 address (once per burst of announcements)."""

    def __init__(self, deny_again: Callable[[], Awaitable[None]]) -> None:
        self.deny_again = deny_again
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False  # another address came while the last one was being denied

    def start(self) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE)
            sock.bind((0, _RTMGRP_IPV4_IFADDR))
        except OSError as exc:
            log.warning("cannot watch the host's addresses (%s): one gained later is open to running containers", exc)
            return
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._sock is not None
        gained = False
        with contextlib.suppress(BlockingIOError):
            while True:
                gained = new_addresses(self._sock.recv(_RECEIVE_SIZE)) or gained
        if not gained:
            return
        if self._task is not None and not self._task.done():
            self._again = True
        else:
            self._task = asyncio.create_task(self._deny())

    async def _deny(self) -> None:
        while True:
            self._again = False
            try:
                await self.deny_again()
            except Exception:
                log.exception("denying an address the host gained to running containers failed")
            if not self._again:
                return

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        if self._task is not None:
            self._task.cancel()
