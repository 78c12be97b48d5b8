"""Hosts on one machine: a network namespace per worker, joined to the root namespace by a veth pair.

Host i gets 10.231.i.2 (the root side is 10.231.i.1, where the server listens), so taking
the root side's link down cuts that host off, as a failed switch port would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

SUBNET = "10.231"  # test-owned; unlikely to clash with a real network on a CI machine


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 is not installed (apt-get install iproute2)"
    return None


@dataclass
class Host:
    netns: str
    link: str  # the root namespace's end of its veth pair
    server_address: str  # the server's address as this host sees it

    def exec_prefix(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.netns)

    def partition(self, cut: bool) -> None:
        _ip("link", "set", self.link, "down" if cut else "up")

    def power_off(self) -> None:
        """SIGKILL every process in the namespace (a worker and its containers), as a host losing power."""
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)


@contextlib.contextmanager
def hosts(count: int) -> Iterator[list[Host]]:
    """`count` namespaced hosts; removed afterwards even when the test fails."""
    tag = f"nmf{os.getpid() % 100000}"
    made: list[Host] = []
    try:
        for i in range(1, count + 1):
            host = Host(f"{tag}-{i}", f"{tag}h{i}", f"{SUBNET}.{i}.1")
            inner = f"{tag}w{i}"
            _ip("netns", "add", host.netns)
            made.append(host)
            _ip("link", "add", host.link, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", host.netns)
            _ip("addr", "add", f"{SUBNET}.{i}.1/24", "dev", host.link)
            _ip("link", "set", host.link, "up")
            _ip("-n", host.netns, "addr", "add", f"{SUBNET}.{i}.2/24", "dev", inner)
            _ip("-n", host.netns, "link", "set", inner, "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
        yield made
    finally:
        for host in made:
            host.power_off()
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
            subprocess.run(["ip", "link", "del", host.link], capture_output=True)  # gone with the netns, normally
