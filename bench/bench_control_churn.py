"""The control plane under container churn, in-process: scheduler tick time and memory as
containers start and exit (issue 17: every exited container used to stay, and every tick
walked all of them).

    python bench/bench_control_churn.py [--containers N] [--json FILE]

No server, no worker: a ControlPlane on a SQLite file, one registered worker, and N
containers placed, said hello, stopped and exited one after another (each with a fresh
function every 100, as a deploy-heavy server makes). After every tenth of them: the mean
time of 20 scheduler passes, the containers the control plane still knows and the
process's RSS. The retention window is the real one (600 s): within the run nothing is
old enough to forget, so what is measured is what a pass walks; `--retention 0` shows the
memory side (every exited container forgotten on the next pass).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from nano_modal.proto import api_pb2
from nano_modal.server.control import ControlPlane
from nano_modal.server.scheduler import Scheduler
from nano_modal.server.sql_store import SqlStore

TICKS = 20  # passes timed per sample


def _rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20_000)
    parser.add_argument("--retention", type=float, help="seconds exited containers stay known (default: 600)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        control = ControlPlane(SqlStore(f"sqlite:///{tmp}/state.db"))
        if args.retention is not None and hasattr(control.containers, "retention"):  # not before issue 17
            control.containers.retention = args.retention
        request = api_pb2.WorkerRegisterRequest(worker_id="wk-1", hostname="h", cpu=64, memory_mb=1 << 20)
        control.register_worker(request)
        scheduler = Scheduler(control)
        app_id = control.create_app("churn", ephemeral=False)
        control.apps[app_id].state = "deployed"
        samples = []
        fn = None
        for n in range(1, args.containers + 1):
            if fn is None or n % 100 == 0:
                function_id = control.create_function(app_id, api_pb2.FunctionDefinition(name=f"f{n}"))
                fn = control.functions[function_id]
            container = control.place_container(fn)
            assert container is not None
            control.workers["wk-1"].to_start.clear()
            control.container_hello(container)
            control.stop_container(container)
            control.workers["wk-1"].to_stop.clear()
            control.container_exited(container.container_id, 0, "scaled down")
            control.workers["wk-1"].last_seen = time.monotonic()
            if n % max(1, args.containers // 10) == 0:
                started = time.perf_counter()
                for _ in range(TICKS):
                    scheduler.tick()
                tick_ms = (time.perf_counter() - started) / TICKS * 1000
                known = len(control.containers)
                samples.append({"containers_started": n, "tick_ms": round(tick_ms, 3), "rss_mib": round(_rss_mib(), 1)})
                print(
                    f"{n:>8,} started  tick {tick_ms:7.3f} ms  containers known {known:>7,}  rss {_rss_mib():6.1f} MiB"
                )
    if args.json:
        args.json.write_text(json.dumps(samples, indent=2))


if __name__ == "__main__":
    main()
