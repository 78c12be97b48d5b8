"""The control plane at fleet scale, in-process: 100 workers and 100,000 containers
(issue 18: scheduler tick ≤ 10 ms, placement ≤ 1 ms per container, ≤ 2 KB of server memory
per idle container).

    python bench/bench_control_scale.py [--workers 100] [--containers 100000] [--json FILE]

No server process, no worker process: a real ControlPlane on a SQLite file with fake
workers registered through its own methods (the worker protocol's in-process side), the
way bench_control_churn.py drives it. Containers are placed one after another (one function
per 100, each warm: said hello, parked waiting for inputs, as idle containers are), and
after every tenth: the median and 99th percentile of the last tenth's placements, the median
of 9 scheduler passes, one sweep over every container (heartbeats, slow starts: once a
second) and the RSS growth per container so far.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.scheduler import Scheduler
from nano_modal.server.sql_store import SqlStore

TICKS = 9  # passes timed per sample (the first may sweep every container: a second has passed)
PER_FUNCTION = 100  # containers per function (warm: their own scaledown timers would end them, not the server)


def _rss_kib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--containers", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    per_worker = -(-args.containers // args.workers)
    cpu_each = 0.25  # the default cpu of a container: a worker holds 4x its cores of them (overcommit)
    with tempfile.TemporaryDirectory() as tmp:
        control = ControlPlane(SqlStore(f"sqlite:///{tmp}/state.db"))
        for w in range(args.workers):
            control.register_worker(
                api_pb2.WorkerRegisterRequest(
                    worker_id=f"wk-{w}", hostname=f"h{w}", cpu=per_worker * cpu_each / 4 + 1, memory_mb=per_worker * 200
                )
            )
        scheduler = Scheduler(control)
        app_id = control.create_app("scale", ephemeral=False)
        control.apps[app_id].state = "deployed"
        baseline = _rss_kib()
        samples, placements = [], []
        fn = None
        for n in range(1, args.containers + 1):
            if fn is None or n % PER_FUNCTION == 1:
                now = time.monotonic()
                for worker in control.workers.values():
                    worker.last_seen = now  # they poll; these fakes are never silent
                definition = api_pb2.FunctionDefinition(name=f"f{n}")
                fn = control.functions[control.create_function(app_id, definition)]
            started = time.perf_counter()
            container = control.place_container(fn)
            placements.append(time.perf_counter() - started)
            if container is None:
                raise SystemExit(f"no room for container {n:,}: the fake workers are too small")
            control.workers[container.worker_id].to_start.clear()
            control.container_hello(container)
            container.waiting = True  # parked in ContainerGetInputs: an idle warm container
            if n % max(1, args.containers // 10) == 0:
                now = time.monotonic()
                for c in control.containers.active():
                    c.last_heard = now  # they heartbeat; these fakes are never silent
                ticks = []
                for _ in range(TICKS):
                    started = time.perf_counter()
                    scheduler.tick()
                    ticks.append(time.perf_counter() - started)
                tick_ms = statistics.median(ticks) * 1000  # the passes between two container sweeps
                started = time.perf_counter()
                if hasattr(scheduler, "_sweep_containers"):  # once a second (scheduler.CONTAINER_SWEEP_INTERVAL)
                    scheduler._sweep_containers(time.monotonic())
                sweep_ms = (time.perf_counter() - started) * 1000
                ordered = sorted(placements)
                place_p50 = statistics.median(ordered) * 1000
                place_p99 = ordered[int(len(ordered) * 0.99)] * 1000
                per_container = (_rss_kib() - baseline) / n * 1024
                samples.append(
                    {
                        "containers": n,
                        "tick_ms": round(tick_ms, 2),
                        "sweep_ms": round(sweep_ms, 2),
                        "place_p50_ms": round(place_p50, 3),
                        "place_p99_ms": round(place_p99, 3),
                        "bytes_per_container": round(per_container),
                    }
                )
                print(
                    f"{n:>8,} containers  tick {tick_ms:7.2f} ms  sweep {sweep_ms:6.2f} ms"
                    f"  place p50 {place_p50:6.3f} ms p99 {place_p99:7.3f} ms  rss/container {per_container:6.0f} B",
                    flush=True,
                )
                placements = []
    if args.json:
        args.json.write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
