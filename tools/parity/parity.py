"""Measure nano_modal's API against the real `modal` client from PyPI.

Installs the pinned `modal` release into a scratch venv (cached under the temp directory, so a
second run needs no network), dumps both packages' public surface with dump_surface.py, and
diffs them. Keys that excluded.toml names (each with its reason) are left out of the measure.

    python tools/parity/parity.py                 # coverage and what is missing
    python tools/parity/parity.py --json          # the same, as JSON (the test reads it)
    python tools/parity/parity.py --write-docs    # regenerate docs/COMPATIBILITY.md
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The release measured against: pinned, so coverage moves only when one of the two packages does.
MODAL_VERSION = "1.6.4"
EXCLUSIONS_FILE = HERE / "excluded.toml"
FLOOR_FILE = HERE / "floor.txt"
DOCS_FILE = REPO / "docs" / "COMPATIBILITY.md"
# Submodules programs use by attribute (`modal.exception.NotFoundError`) though not in __all__.
EXTRA_SUBMODULES = ("exception",)
PIP_TIMEOUT_SECONDS = 600


def cache_dir() -> Path:
    return Path(os.environ.get("NANO_MODAL_PARITY_CACHE", Path(tempfile.gettempdir()) / "nano-modal-parity"))


def modal_python(version: str = MODAL_VERSION) -> Path:
    """The python of a venv holding modal==version, created (from PyPI) on first use."""
    venv = cache_dir() / f"modal-{version}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    # Built aside and renamed into place, so a run that dies half-way leaves no broken cache.
    venv.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"modal-{version}-", dir=venv.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(building)], check=True)
        pip = [str(building / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        installed = subprocess.run(
            [*pip, f"modal=={version}"], capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
        if installed.returncode != 0:
            raise SystemExit(f"pip install modal=={version} failed:\n{installed.stderr}")
        (building / ".complete").write_text(version)
        try:
            building.rename(venv)
        except OSError:  # another run finished first: use its venv
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return python


def dump(python: Path, package: str, pythonpath: str | None = None) -> set[str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    args = [str(python), str(HERE / "dump_surface.py"), package]
    for name in EXTRA_SUBMODULES:
        args += ["--submodule", name]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
    if out.returncode != 0:
        raise SystemExit(f"dumping {package}'s surface failed:\n{out.stderr}")
    return set(json.loads(out.stdout))


@dataclass
class Report:
    modal_keys: set[str]
    nano_keys: set[str]
    exclusions: dict[str, str]  # pattern -> reason
    excluded: dict[str, str] = field(default_factory=dict)  # key -> pattern
    unused_patterns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        used: set[str] = set()
        for key in self.modal_keys:
            for pattern in self.exclusions:
                if fnmatch.fnmatchcase(key, pattern):
                    self.excluded[key] = pattern
                    used.add(pattern)
                    break
        self.unused_patterns = sorted(set(self.exclusions) - used)

    @property
    def measured(self) -> set[str]:
        return self.modal_keys - set(self.excluded)

    @property
    def covered(self) -> set[str]:
        return self.measured & self.nano_keys

    @property
    def missing(self) -> list[str]:
        return sorted(self.measured - self.nano_keys)

    @property
    def coverage(self) -> float:
        return 100.0 * len(self.covered) / max(1, len(self.measured))

    def as_json(self) -> dict[str, object]:
        return {
            "modal_version": MODAL_VERSION,
            "coverage": round(self.coverage, 2),
            "measured": len(self.measured),
            "covered": len(self.covered),
            "excluded": len(self.excluded),
            "missing": self.missing,
            "unused_exclusions": self.unused_patterns,
        }


def load_exclusions() -> dict[str, str]:
    table = tomllib.loads(EXCLUSIONS_FILE.read_text())
    exclusions = {str(k): str(v) for k, v in table.get("exclude", {}).items()}
    for pattern, reason in exclusions.items():
        if not reason.strip():
            raise SystemExit(f"{EXCLUSIONS_FILE.name}: {pattern!r} has no reason")
    return exclusions


def measure() -> Report:
    modal_keys = dump(modal_python(), "modal")
    nano_keys = dump(Path(sys.executable), "nano_modal", pythonpath=str(REPO))
    return Report(modal_keys, nano_keys, load_exclusions())


def owner(key: str) -> str:
    return key.split("(")[0].split(".")[0]


def grouped(keys: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        groups[owner(key)].append(key)
    return dict(sorted(groups.items()))


def cloud_only_options() -> dict[str, str]:
    """nano_modal's list of the options it accepts and ignores (one place: _porting_options)."""
    sys.path.insert(0, str(REPO))
    from nano_modal._porting_options import CLOUD_ONLY

    return {name.removeprefix("build_"): why for name, why in CLOUD_ONLY.items()}


def render_docs(report: Report) -> str:
    lines = [
        "# Compatibility with Modal's client API",
        "",
        "Generated by `python tools/parity/parity.py --write-docs`: do not edit by hand.",
        "",
        f"Measured against `modal=={MODAL_VERSION}` from PyPI: every name in `modal.__all__`, every public",
        "method and property of its public classes, and every parameter name of its callables",
        f"(`App.function(gpu)`). **{report.coverage:.1f}%** of the measured surface exists in nano_modal",
        f"({len(report.covered)} of {len(report.measured)} names); {len(report.excluded)} names are excluded",
        "on purpose (below, with the reason).",
        "",
        "The real `modal` client run against a nano-modal server: [MODAL_CLIENT.md](MODAL_CLIENT.md).",
        "",
        "## Missing",
        "",
    ]
    if not report.missing:
        lines.append("Nothing: every measured name exists.")
    for group, keys in grouped(report.missing).items():
        lines.append(f"- **{group}**: " + ", ".join(f"`{k}`" for k in keys))
    lines += [
        "",
        "## Accepted and ignored",
        "",
        "Options that mean something only on Modal's cloud: a program",
        "may pass them; each is noted once on stderr and has no effect.",
        "",
    ]
    lines += [f"- `{name}=`: {why}" for name, why in cloud_only_options().items()]
    lines += ["", "## Excluded on purpose", "", "| Pattern | Names | Why |", "|---|---|---|"]
    counts: dict[str, int] = defaultdict(int)
    for pattern in report.excluded.values():
        counts[pattern] += 1
    for pattern, reason in report.exclusions.items():
        lines.append(f"| `{pattern}` | {counts[pattern]} | {reason} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write-docs", action="store_true", help=f"write {DOCS_FILE.relative_to(REPO)}")
    args = parser.parse_args()
    report = measure()
    if args.write_docs:
        DOCS_FILE.write_text(render_docs(report))
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=1)
        print()
        return
    for group, keys in grouped(report.missing).items():
        print(f"{group}: {' '.join(keys)}")
    for pattern in report.unused_patterns:
        print(f"note: exclusion {pattern!r} matches nothing", file=sys.stderr)
    print(
        f"\ncoverage of modal=={MODAL_VERSION}: {report.coverage:.1f}% "
        f"({len(report.covered)}/{len(report.measured)}; {len(report.excluded)} excluded, "
        f"{len(report.missing)} missing)"
    )


if __name__ == "__main__":
    main()
