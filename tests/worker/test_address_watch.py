"""The address watch re-denies only what needs it: an address inside a range every container is
denied already (kernel NAT gives each container a host-side address in 10.213.0.0/16) changes
nothing, so one container's start does not rewrite every running container's routes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from nano_modal.worker.network import NetworkPolicy
from tests.helpers import run_in_own_network

# In a network namespace of its own (the host's addresses untouched).
WATCH = """
import asyncio
import ipaddress
import subprocess

from nano_modal.worker.address_watch import AddressWatch
from nano_modal.worker.network import NetworkPolicy


async def deny_again():
    pass


async def main():
    watch = AddressWatch(deny_again, NetworkPolicy().needs_own_denial)
    watch.start()
    generation = watch.generation
    subprocess.run(["ip", "addr", "add", "10.213.250.1/30", "dev", "lo"], check=True)
    print("inside a denied range", watch.unchanged_since(generation))
    subprocess.run(["ip", "addr", "add", "192.0.2.77/32", "dev", "lo"], check=True)
    print("a public one", watch.unchanged_since(generation))
    watch.close()


asyncio.run(main())
"""


def test_an_address_inside_a_denied_range_changes_no_containers_denial(tmp_path: Path) -> None:
    run = run_in_own_network(tmp_path, WATCH)
    assert run.stdout.split("\n")[:2] == ["inside a denied range True", "a public one False"], run.stdout + run.stderr


def test_a_host_address_gets_its_own_denial_only_outside_the_denied_ranges() -> None:
    policy = NetworkPolicy(allowed=[ipaddress.ip_network("10.254.91.1/32")])
    assert not policy.needs_own_denial(ipaddress.IPv4Address("10.213.0.13"))  # 10.0.0.0/8 holds it
    assert policy.needs_own_denial(ipaddress.IPv4Address("203.0.113.1"))
    assert not policy.needs_own_denial(ipaddress.IPv4Address("10.254.91.1"))  # the operator's
    assert not policy.needs_own_denial(ipaddress.IPv4Address("127.0.0.1"))
