"""CPU-bound `.map` (pure-Python inputs of 1, 10 or 100 ms) against Ray, Dask and multiprocessing.Pool.

    python bench/bench_cpu_map.py [--quick] [--ms 10] [--n 2000] [--reps R] [--io N] [--json FILE]

Every peer runs the same function, a pure-Python loop calibrated to take `--ms` of this
process's CPU time. Each input returns the CPU time it took where it ran, so every repetition
of every peer has its own work (their sum) and ideal wall time (work ÷ the cores): a VM's CPU
clock counts the host's steal, so one calibration could not stand for all peers. Peers
(all alive for the whole run; repetitions interleaved so the machine's load hits them alike):

* nano-modal    `list(f.map(range(n)))` (embedded server + worker, default cpu=0.25)
* Ray tasks     `ray.get([f.remote(i) for i in range(n)])` (ray.init on the cores)
* Dask          `client.gather(client.map(f, range(n)))` (LocalCluster, a process per core)
* Pool.map      `Pool(cores).map(f, range(n), chunksize=1)` (one pipe message per input)

With `--io N`, nano-modal also maps N inputs that sleep 0.2 s (I/O-bound: more containers
than cores pay off), reported as wall time and containers.

Reported: median wall time ÷ ideal per peer, nano-modal's wall time ÷ each peer's, the number
of nano-modal containers, and the load average (the machine may be shared).
Target: nano-modal ≤ 1.10× ideal, ahead of Ray and Dask, within 5% of Pool.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from typing import Any

import _common as c
from _cpu_work import IO_SLEEP, sleepy, spin

# Ray's and Dask's worker processes import the functions by module name: let them find this directory.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(__file__), os.environ.get("PYTHONPATH")]))

TARGET_OF_IDEAL = 1.10


def calibrate(seconds: float) -> int:
    """Units of spin() that take `seconds` of this process's CPU time (not wall: the machine may be busy)."""
    units = 1
    while True:
        t0 = time.process_time()
        spin(units)
        took = time.process_time() - t0
        if took > 0.05:
            return max(1, round(units * seconds / took))
        units *= 2


def count_containers() -> int:
    return sum(1 for pid in c.descendants(os.getpid()) if c.is_container(pid))


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [
            (("--n",), {"type": int, "default": None}),
            (("--ms",), {"type": float, "default": 10.0}),
            (("--reps",), {"type": int, "default": None}),
            (("--io",), {"type": int, "default": 0}),
        ],
    )
    n = args.n or (400 if args.quick else 2_000)
    reps = args.reps or (1 if args.quick else 3)
    cores = os.cpu_count() or 1
    units = calibrate(args.ms / 1000)
    per_input = _cpu_per_input(units)
    c.temp_home()

    pool = multiprocessing.get_context("fork").Pool(cores)  # forked before any gRPC / Ray threads exist

    import nano_modal

    app = nano_modal.App("bench-cpu-map")
    f = app.function()(spin)
    io_f = app.function()(sleepy)
    ray = c.start_ray()
    dask_client = _start_dask(cores)

    peers: dict[str, Callable[[int], list[Any]]] = {}
    with app.run(show_logs=False):
        peers["nano-modal .map"] = lambda k: list(f.map([units] * k))
        if ray is not None:
            ray_f = ray.remote(spin)
            peers["Ray tasks"] = lambda k: ray.get([ray_f.remote(units) for _ in range(k)])
        if dask_client is not None:
            peers["Dask"] = lambda k: dask_client.gather(dask_client.map(spin, [units] * k, pure=False))
        peers["Pool.map chunksize=1"] = lambda k: pool.map(spin, [units] * k, chunksize=1)

        for name, run in peers.items():  # warm-up: workers, processes, imports (a tenth of the work)
            run(max(1, n // 10))
            c.console.print(f"[dim]warmed up {name}[/dim]")

        elapsed: dict[str, list[float]] = {name: [] for name in peers}
        of_ideal: dict[str, list[float]] = {name: [] for name in peers}  # each rep's wall ÷ its own ideal
        work: dict[str, list[float]] = {name: [] for name in peers}  # CPU seconds its inputs took
        containers: list[int] = []
        server_ms: list[float] = []  # nano-modal server CPU per input, ms
        loads: list[float] = []
        io_runs: list[tuple[float, int]] = []
        for r in range(reps):
            for name, run in peers.items():
                loads.append(os.getloadavg()[0])
                meter = c.CpuMeter().start()
                t0 = time.perf_counter()
                out = run(n)
                secs = time.perf_counter() - t0
                if name == "nano-modal .map":
                    used = meter.stop()
                    server_ms.append(used.get("nano server", 0.0) * 1000 / n)
                assert len(out) == n, "wrong results"
                elapsed[name].append(secs)
                work[name].append(sum(out))
                of_ideal[name].append(secs / (work[name][-1] / cores))
                if name == "nano-modal .map":
                    containers.append(count_containers())
                c.console.print(
                    f"[dim]rep {r + 1}/{reps}: {name}: {secs:.2f} s = {of_ideal[name][-1]:.2f}x ideal[/dim]"
                )
            if args.io:
                t0 = time.perf_counter()
                assert len(list(io_f.map(range(args.io)))) == args.io
                io_runs.append((time.perf_counter() - t0, count_containers()))
                c.console.print(f"[dim]rep {r + 1}/{reps}: nano-modal I/O map: {io_runs[-1][0]:.2f} s[/dim]")
    pool.close()
    pool.join()
    if ray is not None:
        ray.shutdown()
    if dask_client is not None:
        dask_client.close()

    nano = "nano-modal .map"
    wall = {name: c.median(s) for name, s in elapsed.items()}
    rows = [
        [
            name,
            c.fmt_s(wall[name]),
            f"{c.median(work[name]) / n * 1000:.2f} ms",
            " / ".join(f"{x:.2f}" for x in of_ideal[name]),
            f"{c.median(of_ideal[name]):.2f}x",
            "1.00x" if name == nano else f"{wall[nano] / wall[name]:.2f}x",
        ]
        for name in elapsed
    ]
    load = f"load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f} on {cores} cores"
    c.table(
        f"map of {n:,} inputs × {per_input * 1000:.1f} ms of pure-Python CPU here (median of {reps}); "
        f"ideal: the CPU the inputs took where they ran ÷ {cores} cores",
        ["peer", "wall", "CPU per input there", "each rep ÷ ideal", "median ÷ ideal", "nano wall ÷ peer wall"],
        rows,
        caption=load,
    )
    c.console.print(f"nano-modal containers after each rep: {containers}")
    c.console.print(f"nano-modal server CPU per input (ms): {' / '.join(f'{x:.3f}' for x in server_ms)}")
    results: dict[str, Any] = {
        "n": n,
        "ms": per_input * 1000,
        "reps": reps,
        "seconds": elapsed,
        "work_cpu_s": work,
        "of_ideal_each": of_ideal,
        "of_ideal": {k: c.median(v) for k, v in of_ideal.items()},
        "containers": containers,
        "server_cpu_ms_per_input": server_ms,
        "load": loads,
    }
    if io_runs:
        io_ideal = args.io * IO_SLEEP
        results["io"] = {"n": args.io, "seconds": [s for s, _ in io_runs], "containers": [k for _, k in io_runs]}
        c.console.print(
            f"nano-modal I/O map of {args.io} × {IO_SLEEP} s sleeps: median {c.median(s for s, _ in io_runs):.2f} s "
            f"(serial {io_ideal:.0f} s), containers {[k for _, k in io_runs]}"
        )
    nano_of_ideal = c.median(of_ideal[nano])
    verdict = (
        nano_of_ideal <= TARGET_OF_IDEAL
        and all(wall[nano] < wall[p] for p in ("Ray tasks", "Dask") if p in wall)
        and wall[nano] <= 1.05 * wall["Pool.map chunksize=1"]
    )
    results["meets_target"] = verdict
    c.console.print(
        f"nano-modal: {nano_of_ideal:.2f}x ideal -> target {'MET' if verdict else 'MISSED'} "
        f"(<= {TARGET_OF_IDEAL}x, ahead of Ray and Dask, within 5% of Pool); {load}"
    )
    c.write_json(args.json, "cpu_map", results)


def _cpu_per_input(units: int) -> float:
    """CPU seconds one input takes here (median of a few: the calibration run may have been unlucky)."""
    took = []
    for _ in range(5):
        t0 = time.process_time()
        spin(units)
        took.append(time.process_time() - t0)
    return c.median(took)


def _start_dask(cores: int) -> Any:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        c.console.print("[yellow]dask is not installed: skipping the Dask peer (pip install -e '.[bench]')[/yellow]")
        return None
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


if __name__ == "__main__":
    main()
