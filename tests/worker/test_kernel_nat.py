"""Which resolver containers under kernel NAT ask (worker/kernel_nat.py): the host's, unless it
is on the host's loopback (out of their reach), then systemd-resolved's upstream servers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from nano_modal.worker import kernel_nat


def test_a_loopback_stub_resolver_gives_way_to_its_upstream_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub, upstream = tmp_path / "resolv.conf", tmp_path / "upstream.conf"
    stub.write_text("# systemd-resolved's stub\nnameserver 127.0.0.53\noptions edns0\n")
    monkeypatch.setattr(kernel_nat, "RESOLV_CONF", stub)
    monkeypatch.setattr(kernel_nat, "UPSTREAM_RESOLV_CONF", upstream)
    assert kernel_nat.reachable_resolvers() == []  # no upstream list: kernel NAT is not used
    upstream.write_text("nameserver 10.255.255.53\nnameserver fd00::53\n")
    assert kernel_nat.reachable_resolvers() == [ipaddress.IPv4Address("10.255.255.53")]
    stub.write_text("nameserver 192.0.2.53\n")
    assert kernel_nat.reachable_resolvers() == [ipaddress.IPv4Address("192.0.2.53")]
