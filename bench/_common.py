"""Helpers shared by the benchmark scripts: temp state, statistics, tables, process memory.

Every script is runnable on its own (`python bench/bench_X.py [--quick] [--json FILE]`);
this module is imported as a sibling (the scripts' directory is on sys.path).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# Wide enough for the tables when output is piped to a file (rich would default to 80 columns).
console = Console(width=None if sys.stdout.isatty() else 150)
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ set-up


def parse_args(description: str, extra: Sequence[tuple[tuple[str, ...], dict[str, Any]]] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions (a smoke run)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    for flags, kwargs in extra:
        parser.add_argument(*flags, **kwargs)
    args = parser.parse_args()
    m = machine()
    console.print(
        f"[dim]{m['date']}  {m['cores']} cores ({m['cpu']})  Python {m['python']}  "
        f"nano_modal {m['git']} from {m['nano_modal']}  load average {m['loadavg'][0]:.2f}"
        f"{'  (quick)' if args.quick else ''}[/dim]"
    )
    return args


def temp_home(prefix: str = "nano-modal-bench-") -> Path:
    """A throw-away NANO_MODAL_HOME for this run (removed at exit); forces the embedded server."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["NANO_MODAL_HOME"] = str(home)
    os.environ.pop("NANO_MODAL_SERVER_URL", None)
    os.environ.pop("NANO_MODAL_TOKEN", None)
    atexit.register(shutil.rmtree, home, True)
    # Registered after the removal, so run before it: the embedded server and worker this run
    # started would otherwise idle on for their 300 s (~25 ms of CPU a second between them)
    # beside the next benchmark, with their state directory gone (seen in session 25).
    atexit.register(_stop_embedded)
    # `python -m nano_modal.server|worker` put the working directory first on sys.path: run them
    # from here, so that they import the same nano_modal as this process (PYTHONPATH or install),
    # never a checkout that happens to be the current directory.
    os.chdir(home)
    return home


def _stop_embedded() -> None:
    from nano_modal import embedded

    embedded.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import nano_modal

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "nano_modal": str(Path(nano_modal.__file__).parent),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git": _git_state(Path(nano_modal.__file__).resolve().parents[1]),
        "loadavg": os.getloadavg(),
    }


def _git_state(root: Path) -> str:
    """Commit of the nano_modal being measured (+ '-dirty' if its files differ from it)."""
    if os.environ.get("NANO_MODAL_BENCH_COMMIT"):  # set when benchmarking an exported snapshot
        return os.environ["NANO_MODAL_BENCH_COMMIT"]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "nano_modal"], capture_output=True, text=True, check=True
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


# ------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-with-interpolation percentile (q in 0..100)."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    if us >= 10_000:
        return f"{us / 1000:,.1f} ms"
    if us >= 1000:
        return f"{us / 1000:,.2f} ms"
    return f"{us:,.0f} µs"


def fmt_s(seconds: float) -> str:
    return f"{seconds:,.3f} s" if seconds < 10 else f"{seconds:,.1f} s"


def fmt_rate(per_s: float) -> str:
    return f"{per_s:,.0f}/s"


def fmt_mb(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.0f} MB"


def ratio(a: float, b: float) -> str:
    """a / b, printed as '2.3x'."""
    if not b or b != b or a != a:
        return "-"
    return f"{a / b:,.2f}x"


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None) -> None:
    t = Table(title=title, caption=caption, title_justify="left")
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*[str(c) for c in row])
    console.print(t)


def write_json(path: Path | None, name: str, results: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **results}, indent=2, default=str))
    console.print(f"[dim]results written to {path}[/dim]")


# ------------------------------------------------------------------ processes and memory


def rss_bytes(pid: int) -> int:
    return _status_kb(pid, "VmRSS") * 1024


def hwm_bytes(pid: int) -> int:
    """Peak resident set size of a live process (VmHWM)."""
    return _status_kb(pid, "VmHWM") * 1024


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def self_peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def descendants(pid: int) -> list[int]:
    """Pids of all descendants of `pid` (via psutil when available, else /proc)."""
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except ImportError:
        pass
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def is_container(pid: int) -> bool:
    """A container's Python process (not the bwrap/runsc wrappers whose command lines name it too)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # Started as `python -m nano_modal.container` once, now as `python -S -c "from nano_modal.container
    # import _site; ..."` (worker/base.py): the module's name is inside an argument, not one itself.
    return Path(argv[0].decode(errors="replace")).name.startswith("python") and any(
        b"nano_modal.container" in arg for arg in argv[1:]
    )


def find_child(module: str, root: int | None = None) -> int | None:
    """The first descendant of `root` (default: this process) running `python -m <module>`."""
    for pid in descendants(root or os.getpid()):
        if f"-m {module}" in cmdline(pid):
            return pid
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, ValueError, IndexError):
        return 0.0


def start_server(state_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """A server process with a new admin token on a free port (logging to state_dir/server.log),
    once it listens: the process, its address and the token."""
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "NANO_MODAL_TOKEN": token}
    env.pop("NANO_MODAL_SERVER_URL", None)
    port_file = state_dir / "port"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nano_modal.server",
            "--port",
            "0",
            "--state-dir",
            str(state_dir),
            "--port-file",
            str(port_file),
            "--quiet",
            *extra,
        ],
        env=env,
        stdout=(state_dir / "server.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start: " + (state_dir / "server.log").read_text())
        time.sleep(0.02)
    return server, f"127.0.0.1:{port_file.read_text().strip()}", token


class Cluster:
    """An explicit server and worker, as in tests/conftest.py (for when their pids matter)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.server, self.url, self.token = start_server(state_dir)
        env = {**os.environ, "NANO_MODAL_TOKEN": self.token}
        env.pop("NANO_MODAL_SERVER_URL", None)
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "nano_modal.worker", "--server", self.url, "--quiet"],
            env=env,
            stdout=(state_dir / "worker.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        os.environ["NANO_MODAL_SERVER_URL"] = self.url
        os.environ["NANO_MODAL_TOKEN"] = self.token
        atexit.register(self.stop)

    def stop(self) -> None:
        for proc in (self.worker, self.server):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


# ------------------------------------------------------------------ peers


def start_ray(num_cpus: int | None = None) -> Any:
    """ray.init on this machine's cores, quietly; returns the ray module (None when not installed)."""
    try:
        import ray
    except ImportError:
        console.print("[yellow]ray is not installed: skipping the Ray peers (pip install -e '.[bench]')[/yellow]")
        return None
    import logging

    ray.init(
        num_cpus=num_cpus or os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        object_store_memory=512 * 2**20,
    )
    return ray


# ------------------------------------------------------------------ where the CPU goes


def _role(pid: int) -> str:
    if pid == os.getpid():
        return "client (this process)"
    cmd = cmdline(pid)
    if "nano_modal.container" in cmd and not is_container(pid):
        return "nano sandbox wrappers"
    for needle, role in (
        ("nano_modal.server", "nano server"),
        ("nano_modal.worker", "nano worker"),
        ("nano_modal.container", "nano container"),
        ("raylet", "ray raylet"),
        ("gcs_server", "ray gcs"),
        ("default_worker.py", "ray workers"),
        ("ray::", "ray workers"),
    ):
        if needle in cmd:
            return role
    if cmd and cmd == cmdline(os.getpid()):
        return "forked children (Pool workers)"
    return "other children"


class CpuMeter:
    """CPU seconds spent by this process and each of its descendants between start() and stop()."""

    def start(self) -> CpuMeter:
        self.before = {pid: cpu_seconds(pid) for pid in [os.getpid(), *descendants(os.getpid())]}
        self.t0 = time.perf_counter()
        return self

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        by_role: dict[str, float] = {}
        for pid in [os.getpid(), *descendants(os.getpid())]:
            used = cpu_seconds(pid) - self.before.get(pid, 0.0)
            role = _role(pid)
            by_role[role] = by_role.get(role, 0.0) + used
        by_role = {k: v for k, v in by_role.items() if v > 0.005}
        by_role["wall"] = wall
        return by_role
