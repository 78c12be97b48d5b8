"""System calls the seccomp filter refuses inside containers, tried from each kind of container."""

from __future__ import annotations

from tests.security.conftest import AttackSession


def test_io_uring_is_refused(attacks: AttackSession) -> None:
    for kind, outcome in attacks.results["io_uring"].items():
        assert outcome == "refused: EPERM" or (attacks.runtime == "gvisor" and str(outcome).startswith("refused")), (
            f"{attacks.runtime} {kind}: {outcome}"
        )
