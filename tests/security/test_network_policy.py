"""The routes that say where a container with outbound NAT may not go (worker/network.py),
and `nano-modal worker --allow-net` as the operator types it."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from nano_modal.worker import network
from nano_modal.worker.address_watch import new_addresses
from nano_modal.worker.main import build_parser
from nano_modal.worker.network import NetworkPolicy, parse_networks


def test_denied_ranges_and_the_hosts_addresses_are_prohibited(monkeypatch: pytest.MonkeyPatch) -> None:
    host = [ipaddress.IPv4Address("192.0.2.2"), ipaddress.IPv4Address("127.0.0.1")]
    monkeypatch.setattr(network, "host_addresses", lambda: host)
    routes = NetworkPolicy().routes()
    for net in ("10.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "192.0.2.2/32"):
        assert f"route add prohibit {net}" in routes
    assert not any("127." in r for r in routes)  # 127/8 inside is the container's own loopback
    assert NetworkPolicy().allow_routes() == []


def test_gvisor_gets_the_same_denial_as_routes_to_a_dead_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """gVisor's netstack copies unicast routes only: each prohibit route has its dead-end twin."""
    monkeypatch.setattr(network, "host_addresses", lambda: [ipaddress.IPv4Address("192.0.2.2")])
    policy = NetworkPolicy()
    dead_ends = policy.dead_end_routes()
    prohibited = [r.removeprefix("route add prohibit ") for r in policy.routes()]
    assert [r.removeprefix("route add ").removesuffix(f" dev {network.DEAD_END}") for r in dead_ends if " dev " in r
            and r.startswith("route add")] == prohibited  # fmt: skip
    assert "link set lo up" in dead_ends  # gVisor builds its loopback only from an up one


def test_allow_net_punches_a_more_specific_route_or_drops_a_deny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network, "host_addresses", lambda: [ipaddress.IPv4Address("192.0.2.2")])
    policy = NetworkPolicy(parse_networks(["10.1.0.0/16", "192.168.0.0/16", "192.0.2.0/24"]))
    routes = policy.routes()
    assert "route add prohibit 10.0.0.0/8" in routes  # the rest of 10/8 stays out of reach
    assert "route add prohibit 192.168.0.0/16" not in routes and "route add prohibit 192.0.2.2/32" not in routes
    assert "route replace 10.1.0.0/16 via 10.0.2.2 dev tap0" in policy.allow_routes()


@pytest.mark.parametrize(("value", "says"), [("10.0.0.0/33", "not a network in CIDR form"), ("fd00::/8", "IPv6")])
def test_a_bad_allow_net_is_a_one_line_error(value: str, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--allow-net", value])
    assert says in capsys.readouterr().err


def test_a_sandboxs_outbound_allowlist_narrows_the_policy_and_never_widens_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(network, "host_addresses", lambda: [ipaddress.IPv4Address("192.0.2.2")])
    operator = NetworkPolicy(parse_networks(["10.1.0.0/16", "10.9.0.0/16"]))
    only = parse_networks(["203.0.113.0/24", "10.0.0.0/8", "10.1.2.0/24", "192.0.2.2/32", "172.16.0.0/16"])
    policy = operator.narrowed(only)
    routes = policy.routes()
    assert "route add prohibit 0.0.0.0/1" in routes and "route add prohibit 128.0.0.0/1" in routes  # all else
    assert "route add prohibit 10.0.0.0/8" in routes and "route add prohibit 192.0.2.2/32" in routes
    opened = [r.split()[2] for r in policy.allow_routes()]
    # Public networks it names; the operator's networks inside what it names; nothing denied.
    assert opened == ["10.1.0.0/16", "10.9.0.0/16", "203.0.113.0/24", "10.1.2.0/24"]
    everywhere = operator.narrowed(parse_networks(["0.0.0.0/0"]))
    assert [r.split()[2] for r in everywhere.allow_routes()] == [
        "10.1.0.0/16",
        "10.9.0.0/16",
        "0.0.0.0/1",
        "128.0.0.0/1",
    ]
    assert operator.narrowed(parse_networks(["0.0.0.0/32"])).allow_routes() == []  # an empty allowlist


def test_only_a_gained_address_wakes_the_address_watch() -> None:
    """rtnetlink datagrams as the kernel sends them: RTM_NEWADDR (20) names its addresses (IFA_LOCAL,
    IFA_ADDRESS attributes after the ifaddrmsg), RTM_DELADDR (21) names none."""

    def message(kind: int, address: str = "203.0.113.9") -> bytes:
        packed = ipaddress.IPv4Address(address).packed
        attributes = struct.pack("=HH", 8, 2) + packed + struct.pack("=HH", 8, 1) + packed  # IFA_LOCAL, IFA_ADDRESS
        payload = struct.pack("=BBBBI", 2, 32, 0, 0, 1) + attributes  # ifaddrmsg: AF_INET, /32, lo
        return struct.pack("=IHHII", 16 + len(payload), kind, 0, 0, 0) + payload

    gained = ipaddress.IPv4Address("203.0.113.9")
    assert gained in new_addresses(message(20))
    assert not new_addresses(message(21))
    assert new_addresses(message(21) + message(20, "10.213.0.5")) == [ipaddress.IPv4Address("10.213.0.5")] * 2
    assert not new_addresses(b"")


def _routed(policy: NetworkPolicy, address: str) -> bool:
    """Whether the container's routes (prohibit, then the allow routes replacing) send `address` out."""
    table: dict[ipaddress.IPv4Network, bool] = {}
    for line in policy.routes():
        table[ipaddress.IPv4Network(line.split()[-1])] = False
    for line in policy.allow_routes():
        table[ipaddress.IPv4Network(line.split()[2])] = True
    ip = ipaddress.IPv4Address(address)
    matches = [net for net in table if ip in net]
    return table[max(matches, key=lambda n: n.prefixlen)] if matches else True  # (the default route)


def _first_verdict(policy: NetworkPolicy, address: str) -> bool:
    """What kernel_nat.py's chain of the same policy does: the first rule that matches wins."""
    ip = ipaddress.IPv4Address(address)
    return next((allowed for net, allowed in policy.verdicts() if ip in net), True)


@pytest.mark.parametrize(
    ("allowed", "only"),
    [
        ((), ()),
        (("10.1.0.0/16", "192.168.0.0/16"), ()),
        ((), ("0.0.0.0/0",)),
        (("10.1.0.0/16",), ("0.0.0.0/0",)),
        (("10.1.0.0/16",), ("10.0.0.0/8", "198.51.100.0/24")),
        (("10.1.2.0/24",), ("10.1.0.0/16",)),
    ],
)
def test_kernel_nat_verdicts_decide_as_the_routes_do(
    monkeypatch: pytest.MonkeyPatch, allowed: tuple[str, ...], only: tuple[str, ...]
) -> None:
    """The nftables chain (first match) and the routes (longest prefix) of one policy agree on
    every address (the host's own aside: the input chain refuses those whatever they are)."""
    monkeypatch.setattr(network, "host_addresses", lambda: [])
    policy = NetworkPolicy(parse_networks(allowed))
    policy = policy.narrowed(parse_networks(only)) if only else policy
    probes = ["8.8.8.8", "10.1.2.3", "10.1.9.9", "10.2.0.1", "169.254.169.254", "192.168.1.1", "198.51.100.7",
              "172.16.0.1", "100.64.0.1", "203.0.113.5", "224.0.0.1"]  # fmt: skip
    assert {p: _first_verdict(policy, p) for p in probes} == {p: _routed(policy, p) for p in probes}
