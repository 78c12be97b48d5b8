"""No container writes a kernel knob: /proc/sys, /sys and /proc/sysrq-trigger are read-only
inside function containers and sandboxes under each isolating runtime, with a root worker."""

from __future__ import annotations

from tests.security.conftest import WATCHED_KNOBS, AttackSession


def test_no_kernel_knob_is_writable_from_a_container(attacks: AttackSession) -> None:
    outcomes = attacks.results["kernel_knobs"]
    for kind, outcome in outcomes.items():
        assert isinstance(outcome, dict), f"{kind}: the walk did not run: {outcome}"
        assert outcome["seen"] > 50, f"{kind}: found too few knobs to try ({outcome})"  # it did look
        assert outcome["written"] == [], f"{attacks.runtime} {kind} wrote: {outcome['written'][:20]}"


def test_host_kernel_knobs_are_unchanged(attacks: AttackSession) -> None:
    for path in WATCHED_KNOBS:
        assert attacks.knobs_after[path] == attacks.knobs_before[path], path
