"""Container runtimes: what isolation costs at start-up.

    python bench/bench_runtimes.py [--quick] [--json FILE] [-n N] [--images]

Part 1, launch: a bare `subprocess` start of `python -c pass`, against the same command
started through each runtime, with its cgroup (limits) and without. Samples are
interleaved across rows; median and fastest of N (the fastest is the steadier figure
on a busy machine).

Part 2, cold start to first result: a server and a worker per runtime; each sample is a
new App whose function has never run, timed from `.remote()` to its result (container
start, entrypoint imports, hello, function load, the call itself). Median and p95 of N.
Workers keep a container booted ahead of need by default (bwrap, gvisor); the row "gvisor, no
preboot" is one whose worker does not (`--preboot 0`), likewise "bwrap, no preboot";
"gvisor, 3 at once" calls three new functions together (each call one sample), more than
the one container booted ahead. `--images` adds the same for a function in a Debian image
(`Image.debian_slim()`, built once). Samples of one row are one round apart
(the other rows' samples in between) and each sample waits SETTLE_SECONDS after the last:
time enough for the worker to boot its next container without sharing the cores with it.
`--runtimes process,bwrap` measures only those. `--baseline DIR` adds every row again as
"<row> @baseline", whose server, worker and containers run
the SDK found in DIR (e.g. `git archive <rev> nano_modal | tar -x -C DIR`), their samples
interleaved with this tree's: a before/after in one run, under the same neighbours.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common as c

from nano_modal.worker.runtime import ContainerConfig, Runtime, make_runtime

RUNTIMES = ["process", "bwrap", "gvisor"]
BURST = 3  # cold starts at once in the burst row: more than the containers booted ahead
# After each cold start, its worker boots the next container (~0.3 s of CPU under bwrap, ~1.2 s
# under gVisor): the next sample, of any row, waits for that instead of sharing the cores with it.
SETTLE_SECONDS = 1.5


def available(runtime: str) -> bool:
    return runtime == "process" or shutil.which({"bwrap": "bwrap", "gvisor": "runsc"}[runtime]) is not None


def bare_launch() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t


async def runtime_launch(runtime: Runtime, i: int) -> float:
    workdir = Path(tempfile.mkdtemp(prefix="nano-modal-bench-"))
    # cpu=0: no cgroup weight, which under contention would measure the scheduler, not the runtime.
    cfg = ContainerConfig(f"bench{i}", {"PATH": os.environ["PATH"]}, workdir, memory_mb=512)
    cfg.command = [sys.executable, "-c", "pass"]
    t = time.perf_counter()
    proc = await runtime.start(cfg)
    await proc.communicate()
    elapsed = time.perf_counter() - t
    await runtime.finish(cfg, proc.returncode or 0)
    assert proc.returncode == 0, f"{runtime.name}: exit {proc.returncode}"
    runtime.disks.remove(workdir)  # its disk (held against the worker's disks' budget), then the directory
    return elapsed


def launches(runtimes: list[str], n: int) -> dict[str, list[float]]:
    """Samples interleaved across runtimes, so that a busy moment costs each of them alike."""
    instances = {r: make_runtime(r) for r in runtimes}
    # The same without cgroups: what the isolation costs, apart from the limits.
    instances.update({f"{r}, no cgroup": make_runtime(r, limits=False) for r in runtimes if r != "gvisor"})
    times: dict[str, list[float]] = {"bare subprocess": [], **{r: [] for r in instances}}
    for i in range(n):
        times["bare subprocess"].append(bare_launch())
        for r, runtime in instances.items():
            times[r].append(asyncio.run(runtime_launch(runtime, i)))
    return times


class Cluster:
    """A server and one worker with the given runtime, on loopback."""

    def __init__(self, runtime: str, sdk: str | None = None, *worker_args: str) -> None:
        self.state = Path(tempfile.mkdtemp(prefix=f"nano-modal-bench-{runtime}-"))
        self.token = secrets.token_urlsafe(16)
        env = {**os.environ, "NANO_MODAL_TOKEN": self.token}
        if sdk is not None:  # the server, worker and containers run that SDK; this process keeps its own
            env["PYTHONPATH"] = sdk
        port_file = self.state / "port"
        with (self.state / "log").open("ab") as log:
            server_args = ["--port", "0", "--state-dir", str(self.state), "--port-file", str(port_file), "--quiet"]
            self.server = subprocess.Popen(
                [sys.executable, "-m", "nano_modal.server", *server_args],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            while not (port_file.exists() and port_file.read_text().strip()):
                time.sleep(0.02)
            self.url = f"127.0.0.1:{port_file.read_text().strip()}"
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "nano_modal.worker", "--server", self.url, "--runtime", runtime, "--quiet",
                 *worker_args],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def use(self) -> None:
        from nano_modal.client import Client

        os.environ.update({"NANO_MODAL_SERVER_URL": self.url, "NANO_MODAL_TOKEN": self.token})
        Client.reset()

    def close(self) -> None:
        for proc in (self.worker, self.server):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:  # e.g. a worker still stopping 100 sandboxes: the numbers stand
                print(f"{' '.join(proc.args[1:4])} did not stop in 10 s: killed", file=sys.stderr)
                proc.kill()
                proc.wait()
        shutil.rmtree(self.state, ignore_errors=True)


def cold_start(runtime: str, i: int, image: bool = False) -> float:
    """A never-seen function's first call: container start to result (in a Debian image: `image`)."""
    from nano_modal import App, Image

    app = App(f"bench-{runtime}-{i}")

    def f(x: int) -> int:
        return x + 1

    f.__qualname__ = f.__name__ = f"f{i}"  # a distinct function each time, sent by value
    fn = app.function(serialized=True, image=Image.debian_slim() if image else None)(f)
    with app.run(show_logs=False):  # AppCreate etc. happen here: the channel is warm below
        t = time.perf_counter()
        assert fn.remote(i) == i + 1
        return time.perf_counter() - t


def cold_start_burst(runtime: str, i: int, k: int) -> list[float]:
    """`k` never-seen functions called at once: each call's time to its result."""
    from nano_modal import App

    app = App(f"bench-{runtime}-burst-{i}")
    fns = []
    for j in range(k):

        def f(x: int) -> int:
            return x + 1

        f.__qualname__ = f.__name__ = f"f{i}_{j}"
        fns.append(app.function(serialized=True)(f))
    with app.run(show_logs=False):
        t = time.perf_counter()

        def call(fn: Any) -> float:
            assert fn.remote(i) == i + 1
            return time.perf_counter() - t

        with ThreadPoolExecutor(k) as pool:
            return list(pool.map(call, fns))


def cold_starts(
    runtimes: list[str], n: int, baseline: str | None = None, images: bool = False
) -> dict[str, list[float]]:
    rows: dict[str, tuple[str, ...]] = {r: (r,) for r in runtimes}  # row -> runtime and worker arguments
    if images:  # the first round (dropped) builds the image, or finds it built
        rows.update({f"{r}, image": (r,) for r in runtimes if r != "process"})
        rows.update({f"{r}, image, no preboot": (r, "--preboot", "0") for r in runtimes if r != "process"})
    if "gvisor" in runtimes:  # the default keeps one container booted ahead of need (worker/preboot.py)
        rows["gvisor, no preboot"] = ("gvisor", "--preboot", "0")
        rows[f"gvisor, {BURST} at once"] = ("gvisor",)
    if "bwrap" in runtimes:  # the same default for bwrap
        rows["bwrap, no preboot"] = ("bwrap", "--preboot", "0")
    clusters = {row: Cluster(runtime, None, *args) for row, (runtime, *args) in rows.items()}
    if baseline is not None:  # every row again, with the baseline's SDK
        for row, (runtime, *args) in rows.items():
            clusters[f"{row} @baseline"] = Cluster(runtime, baseline, *args)
    times: dict[str, list[float]] = {r: [] for r in clusters}
    try:
        for i in range(n + 1):  # the first round warms this process's SDK: dropped
            for r, cluster in clusters.items():
                cluster.use()
                name = r.replace(",", "").split()[0]
                elapsed = cold_start_burst(name, i, BURST) if "at once" in r else [cold_start(name, i, "image" in r)]
                if i:
                    times[r].extend(elapsed)
                time.sleep(SETTLE_SECONDS)
    finally:
        for cluster in clusters.values():
            cluster.close()
    return times


def main() -> None:
    options = [
        (("-n",), {"type": int, "default": 20, "help": "samples per row"}),
        (("--baseline",), {"default": None, "help": "also cold starts with the SDK in this directory"}),
        (("--images",), {"action": "store_true", "help": "also cold starts in a Debian image (builds it once)"}),
        (("--runtimes",), {"default": ",".join(RUNTIMES), "help": "the runtimes to measure (comma-separated)"}),
    ]
    args = c.parse_args(__doc__ or "", options)
    n = 5 if args.quick else args.n
    runtimes = [r for r in args.runtimes.split(",") if available(r)]
    samples = launches(runtimes, n)
    launch = {r: c.median(t) for r, t in samples.items()}
    fastest = {r: min(t) for r, t in samples.items()}
    bare, bare_min = launch["bare subprocess"], fastest["bare subprocess"]
    rows = [
        [
            r,
            c.fmt_us(launch[r]),
            f"+{c.fmt_us(launch[r] - bare)}",
            c.fmt_us(fastest[r]),
            f"+{c.fmt_us(fastest[r] - bare_min)}",
        ]
        for r in launch
    ]
    columns = ["runtime", "median", "over bare", "fastest", "over bare"]
    c.table(f"Launch `python -c pass` (median and fastest of {n})", columns, rows)
    cold_samples = cold_starts(runtimes, n, args.baseline, args.images)
    cold = {r: c.median(t) for r, t in cold_samples.items()}
    cold_p95 = {r: c.percentile(t, 95) for r, t in cold_samples.items()}
    base = cold.get("process", float("nan"))
    rows = [
        [r, c.fmt_us(t), c.fmt_us(cold_p95[r]), "-" if r == "process" else f"{t - base:+.3f} s"]
        for r, t in cold.items()
    ]
    title = f"Cold start: a new function's `.remote()` to its result (median and p95 of {n})"
    c.table(title, ["runtime", "median", "p95", "over process"], rows)
    results: dict[str, Any] = {
        "n": n, "launch": launch, "launch_fastest": fastest, "cold_start": cold, "cold_start_p95": cold_p95,
    }  # fmt: skip
    c.write_json(args.json, "runtimes", results)


if __name__ == "__main__":
    main()
