"""Containers are in their own network: the host's loopback is out of reach of a function's
container and of a sandbox, under each isolating runtime."""

from __future__ import annotations

from tests.security.conftest import AttackSession


def test_host_loopback_listener_sees_no_connection(attacks: AttackSession) -> None:
    outcomes = attacks.results["host_loopback"]
    for kind, outcome in outcomes.items():
        assert outcome != "connected", f"{attacks.runtime} {kind} reached the host's loopback"
        assert str(outcome).startswith("failed"), f"{kind}: {outcome}"
    assert attacks.listener.accepted == [], attacks.listener.accepted
