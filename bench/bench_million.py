"""A 1,000,000-input `.map`: does it finish, how fast, and how much memory does it take?

    python bench/bench_million.py [--quick] [--n N] [--json FILE]

Starts an explicit server and worker (`python -m nano_modal.server` / `nano_modal.worker`,
as in tests/conftest.py) so that their pids are known, points this process at them with
NANO_MODAL_SERVER_URL / NANO_MODAL_TOKEN, and streams `f.map(range(N))` (results are
checked and counted, not kept). A sampler thread records the resident memory of every
process once a second. Reported:

* peak RSS of the client (getrusage ru_maxrss), server and worker (VmHWM), the largest
  container (VmHWM) and all containers together (sum of VmRSS, sampled; the autoscaler
  starts many for a deep queue); target: client and server each < 500 MB;
* inputs per second overall and per 100k-slice (does it slow down as the tables grow?);
* the size of the server's SQLite state afterwards.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import _common as c

LIMIT = 500 * 2**20


def identity(x: Any) -> Any:
    return x


class Sampler(threading.Thread):
    def __init__(self, server: int, worker: int, period: float = 1.0) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pids = {"client": os.getpid(), "server": server, "worker": worker}
        self.period = period
        self.peak: dict[str, int] = {}
        self.timeline: list[dict[str, float]] = []
        self.done = 0
        self.max_containers = 0
        self.stopped = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self.stopped.wait(self.period):
            self.sample()

    def sample(self) -> None:
        now: dict[str, float] = {"t": time.perf_counter() - self.t0, "done": self.done}
        containers = count = 0
        for pid in c.descendants(self.pids["worker"]):
            if c.is_container(pid):
                containers += c.rss_bytes(pid)
                count += 1
        now["num_containers"] = count
        self.max_containers = max(self.max_containers, count)
        for role, pid in self.pids.items():
            now[role] = c.rss_bytes(pid)
        now["containers"] = containers
        for role in (*self.pids, "containers"):
            self.peak[role] = max(self.peak.get(role, 0), int(now[role]))
        self.timeline.append(now)


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0], [(("--n",), {"type": int, "default": None})])
    n = args.n or (100_000 if args.quick else 1_000_000)
    home = c.temp_home()
    state_dir = home / "server"
    state_dir.mkdir()
    cluster = c.Cluster(state_dir)

    import nano_modal

    app = nano_modal.App("bench-million")
    # serialized: the container does not import this script, whose `import _common` needs bench/ on its path
    f = app.function(serialized=True)(identity)

    sampler = Sampler(cluster.server.pid, cluster.worker.pid)
    slices: list[tuple[int, float]] = []  # (inputs done, seconds since start) every 100k
    step = max(n // 10, 1)
    with app.run(show_logs=False):
        f.remote(0)  # a warm container before the clock starts
        sampler.start()
        t0 = time.perf_counter()
        done = 0
        for i, value in enumerate(f.map(range(n))):
            if value != i:
                raise AssertionError(f"output {i} is {value!r}")
            done = i + 1
            if done % 1000 == 0:
                sampler.done = done
            if done % step == 0:
                slices.append((done, time.perf_counter() - t0))
                c.console.print(
                    f"[dim]{done:,} done, {done / (time.perf_counter() - t0):,.0f}/s so far, "
                    f"client {c.fmt_mb(c.rss_bytes(sampler.pids['client']))}, "
                    f"server {c.fmt_mb(c.rss_bytes(cluster.server.pid))}[/dim]"
                )
        elapsed = time.perf_counter() - t0
        sampler.stopped.set()
        sampler.join()
        sampler.sample()
        container_hwm = 0
        for pid in c.descendants(cluster.worker.pid):
            if c.is_container(pid):
                container_hwm = max(container_hwm, c.hwm_bytes(pid))
    assert done == n, (done, n)

    peaks = {
        "client": c.self_peak_rss_bytes(),
        "server": c.hwm_bytes(cluster.server.pid),
        "worker": c.hwm_bytes(cluster.worker.pid),
        "container": container_hwm or sampler.peak.get("containers", 0),
    }
    db_bytes = sum(p.stat().st_size for p in Path(state_dir).glob("state.db*"))
    cluster.stop()

    rows = [
        [
            "client (this process)",
            c.fmt_mb(peaks["client"]),
            "ru_maxrss",
            "< 500 MB",
            "ok" if peaks["client"] < LIMIT else "OVER",
        ],
        ["server", c.fmt_mb(peaks["server"]), "VmHWM", "< 500 MB", "ok" if peaks["server"] < LIMIT else "OVER"],
        ["worker", c.fmt_mb(peaks["worker"]), "VmHWM", "", ""],
        ["container (largest)", c.fmt_mb(peaks["container"]), "VmHWM", "", ""],
        [
            f"all containers ({sampler.max_containers} at most)",
            c.fmt_mb(sampler.peak.get("containers", 0)),
            "sum of VmRSS, sampled 1/s",
            "",
            "",
        ],
    ]
    c.table(f"Peak memory over a {n:,}-input map", ["process", "peak RSS", "measured as", "target", ""], rows)

    prev_done, prev_t = 0, 0.0
    slice_rows = []
    for done_at, t in slices:
        slice_rows.append(
            [f"{prev_done:,} - {done_at:,}", c.fmt_rate((done_at - prev_done) / (t - prev_t)), c.fmt_s(t)]
        )
        prev_done, prev_t = done_at, t
    c.table(
        f"Throughput by slice ({n:,} inputs in {c.fmt_s(elapsed)}: {c.fmt_rate(n / elapsed)} overall)",
        ["inputs", "rate in slice", "elapsed at end"],
        slice_rows,
        caption=f"server SQLite state afterwards: {c.fmt_mb(db_bytes)}",
    )

    ok = peaks["client"] < LIMIT and peaks["server"] < LIMIT
    c.console.print(
        f"{n:,} inputs in {elapsed:,.1f}s ({n / elapsed:,.0f}/s); memory target {'MET' if ok else 'MISSED'}"
    )
    c.write_json(
        args.json,
        "million",
        {
            "n": n,
            "seconds": elapsed,
            "per_s": n / elapsed,
            "peak_bytes": peaks,
            "sampled_peak_bytes": sampler.peak,
            "max_containers": sampler.max_containers,
            "slices": slices,
            "timeline": sampler.timeline,
            "db_bytes": db_bytes,
            "meets_target": ok,
        },
    )


if __name__ == "__main__":
    main()
