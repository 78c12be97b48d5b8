"""Container uid ranges (worker/uid_ranges.py): where they may not go."""

from __future__ import annotations

from pathlib import Path

from nano_modal.worker.uid_ranges import overlapping_subids


def test_a_range_delegated_in_etc_subuid_is_found(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\n# a comment\nbob:1879048192:65536\n")
    missing = tmp_path / "subgid"
    assert overlapping_subids(0x7000_0000, 0x7FFE_0000, (missing, subuid)) == f"{subuid}: bob:1879048192:65536"
    assert overlapping_subids(165536, 0x7000_0000, (missing, subuid)) is None  # alice's ends at 165535
    assert overlapping_subids(165535, 165536, (subuid,)) == f"{subuid}: alice:100000:65536"
