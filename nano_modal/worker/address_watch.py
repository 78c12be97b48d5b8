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

`generation` counts the announcements: a container booted ahead of need whose denial was made
at the generation that still stands needs no refresh when it is handed over (sandbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Awaitable, Callable

log = logging.getLogger("nano_modal.worker")

_RTMGRP_IPV4_IFADDR = 0x10  # the multicast group of IPv4 address changes (linux/rtnetlink.h)
_RTM_NEWADDR = 20
_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port id
_RECEIVE_SIZE = 65536
_IFADDRMSG_SIZE = 8  # family, prefix length, flags, scope (a byte each), interface index (4)
_RTATTR_HEADER = struct.Struct("=HH")  # length, type
_IFA_ADDRESS, _IFA_LOCAL = 1, 2


def new_addresses(data: bytes) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a datagram of rtnetlink messages announces (removals are not listed)."""
    found: list[ipaddress.IPv4Address] = []
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, kind = _NLMSG_HEADER.unpack_from(data, offset)[:2]
        if length < _NLMSG_HEADER.size:
            break
        if kind == _RTM_NEWADDR:
            found += _announced(data[offset + _NLMSG_HEADER.size : offset + length])
        offset += (length + 3) & ~3  # messages are 4-byte aligned
    return found


def _announced(message: bytes) -> list[ipaddress.IPv4Address]:
    """IFA_LOCAL and IFA_ADDRESS of one RTM_NEWADDR (an ifaddrmsg, then its attributes)."""
    found: list[ipaddress.IPv4Address] = []
    offset = _IFADDRMSG_SIZE
    while offset + _RTATTR_HEADER.size <= len(message):
        length, kind = _RTATTR_HEADER.unpack_from(message, offset)
        if length < _RTATTR_HEADER.size:
            break
        value = message[offset + _RTATTR_HEADER.size : offset + length]
        if kind in (_IFA_ADDRESS, _IFA_LOCAL) and len(value) == 4:
            found.append(ipaddress.IPv4Address(value))
        offset += (length + 3) & ~3
    return found


class AddressWatch:
    """Calls `deny_again` after the host gains an IPv4 address that `needs_denial` (once per
    burst of announcements); an address a denied range covers already changes nothing."""

    def __init__(
        self,
        deny_again: Callable[[], Awaitable[None]],
        needs_denial: Callable[[ipaddress.IPv4Address], bool] = lambda _: True,
    ) -> None:
        self.deny_again = deny_again
        self.needs_denial = needs_denial
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False  # another address came while the last one was being denied
        self.generation = 0  # bumped at each burst of new-address announcements read

    def unchanged_since(self, generation: int) -> bool:
        """Whether the host has gained no address since `generation` was read. What the kernel
        has queued on the socket is read first: an address added just before this call counts.
        False when the watch is not running (nothing would have said)."""
        if self._sock is None:
            return False
        self._readable()
        return self.generation == generation

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
        try:
            while True:
                announced = new_addresses(self._sock.recv(_RECEIVE_SIZE))
                gained = any(self.needs_denial(a) for a in announced) or gained
        except BlockingIOError:
            pass
        except OSError:  # ENOBUFS: announcements were lost, and one of them may have been an address
            gained = True
        if not gained:
            return
        self.generation += 1
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
