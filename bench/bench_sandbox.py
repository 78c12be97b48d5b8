"""Sandboxes: create-to-first-output and exec round trips per runtime, against `subprocess.run`.

    python bench/bench_sandbox.py [--quick] [--json FILE] [-n N] [--baseline DIR] [--settle S]

A server and a worker per runtime (process, bwrap, gvisor where installed), each driven through
the SDK by a child process of this one (so that a `--baseline` SDK can run beside this tree's).
Per sample:
- create: from the call of `Sandbox.create("echo", "hi")` until the first byte of its stdout
  reaches the caller (placement, the worker's start of the container, the runtime, the agent,
  the command, the relay back). The runtime's worker keeps a sandbox booted ahead of need once
  it has run one (worker/preboot.py): each sample waits `--settle` seconds after the last of its
  runtime, time for the worker to boot the next, so that the row measures what a caller gets
  when one is ready; `--settle 0` measures creates back to back;
- exec: `sb.exec("echo", "hi")` on a running sandbox until its output reaches the client,
  then its exit code (`wait()`);
- the peer: `subprocess.run(["echo", "hi"], capture_output=True)` on this machine.
Medians and p95 of N. Samples are interleaved across runtimes (and, with `--baseline DIR`, across
this tree and the SDK in DIR, e.g. `git archive <rev> | tar -x -C DIR`: its server, worker,
agent and client) so that the neighbours' load hits every row alike.
Then, on the first runtime: `--alive M` sandboxes (cpu=0.05 each, so that M fit the
machine's reservations) created at once and kept alive; each answers an exec while all
are up (p50/p95), with the worker's memory (its process tree's RSS) at that point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as c
from bench_runtimes import RUNTIMES, available

BENCH_DIR = Path(__file__).resolve().parent
HERE_SDK = BENCH_DIR.parent

# A runtime's cluster and its client, in a child process importing nano_modal from its PYTHONPATH:
# after its warm-up it answers one line of JSON per command line ("create", "exec N", "alive M").
CHILD = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[2])
import _common as c
from bench_runtimes import Cluster

runtime = sys.argv[1]
c.temp_home()
cluster = Cluster(runtime)
cluster.use()
from nano_modal import App, Sandbox


def create():
    t = time.perf_counter()
    sb = Sandbox.create("echo", "hi", app=app)
    first = next(iter(sb.stdout), None)
    elapsed = time.perf_counter() - t
    sb.wait()
    if first != "hi\\n":  # said, with what the sandbox's end says, instead of a bare StopIteration
        raise RuntimeError(f"{sb.object_id}: first line {first!r}, exit {sb.returncode}, {sb._result}")
    return elapsed


def exec_round_trip(sb):
    t = time.perf_counter()
    p = sb.exec("echo", "hi")
    assert p.stdout.read() == "hi\\n" and p.wait() == 0
    return time.perf_counter() - t


def alive(m):
    t = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        sandboxes = list(pool.map(lambda _: Sandbox.create(app=app, cpu=0.05, timeout=600), range(m)))
        up = time.perf_counter() - t
        rounds = list(pool.map(exec_round_trip, sandboxes))
        running = sum(1 for sb in sandboxes if sb.poll() is None)
        pid = cluster.worker.pid
        rss = sum(c.rss_bytes(p) for p in [pid, *c.descendants(pid)])
        list(pool.map(lambda sb: sb.terminate(), sandboxes))
    return {"m": m, "alive": running, "create_all_s": up, "exec_p50": c.percentile(rounds, 50),
            "exec_p95": c.percentile(rounds, 95), "worker_tree_rss_mb": rss / 2**20}


app = App(f"bench-sandbox-{runtime}")
try:
    with app.run(show_logs=False):
        create()  # warms this process's channel and the worker (which then boots a sandbox ahead)
        sb = Sandbox.create(app=app)
        exec_round_trip(sb)
        print("ready", flush=True)
        for line in sys.stdin:
            verb, _, count = line.strip().partition(" ")
            if verb == "create":
                try:
                    print(json.dumps(create()), flush=True)
                except RuntimeError as exc:  # e.g. runsc killed by a signal under load: counted, not timed
                    print(json.dumps({"failed": str(exc).splitlines()[0]}), flush=True)
            elif verb == "exec":
                print(json.dumps([exec_round_trip(sb) for _ in range(int(count))]), flush=True)
            elif verb == "alive":
                print(json.dumps(alive(int(count))), flush=True)
        sb.terminate()
finally:
    cluster.close()
"""


class SandboxPeer:
    """One runtime's cluster and client, in a child process running the SDK found in `sdk`."""

    def __init__(self, runtime: str, sdk: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(sdk)}
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        argv = [sys.executable, "-c", CHILD, runtime, str(BENCH_DIR)]
        self.proc = subprocess.Popen(argv, env=env, text=True, **pipes)
        self.last = 0.0  # when its last create sample ended (perf_counter)
        self.name = f"{runtime} peer with the SDK in {sdk}"
        assert self._line() == "ready", f"the {runtime} peer from {sdk} failed to start"

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        answer = self._line()
        if not answer:
            raise RuntimeError(f"the {self.name} ended (its traceback above)")
        return json.loads(answer)

    def create(self, settle: float) -> float | str:
        """One sample's seconds, or why the sandbox gave no output."""
        time.sleep(max(0.0, self.last + settle - time.perf_counter()))
        answer: float | dict[str, str] = self.ask("create")
        self.last = time.perf_counter()
        return answer["failed"] if isinstance(answer, dict) else answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(120)


def bare() -> float:
    t = time.perf_counter()
    subprocess.run(["echo", "hi"], capture_output=True, check=True)
    return time.perf_counter() - t


def main() -> None:
    extra = [
        (("-n",), {"type": int, "default": 20, "help": "samples per row"}),
        (("--order",), {"default": ",".join(RUNTIMES), "help": "runtimes, in the order to run them"}),
        (("--alive",), {"type": int, "default": 100, "help": "sandboxes alive at once (0: skip)"}),
        (("--baseline",), {"default": None, "help": "also every row with the SDK in this directory"}),
        (("--settle",), {"type": float, "default": 1.0, "help": "seconds between a runtime's create samples"}),
    ]
    args = c.parse_args(__doc__ or "", extra)
    n = 5 if args.quick else args.n
    runtimes = [r for r in args.order.split(",") if available(r)]
    sdks = {"": HERE_SDK, **({" @baseline": Path(args.baseline).resolve()} if args.baseline else {})}
    peers = {f"{r}{tag}": SandboxPeer(r, sdk) for r in runtimes for tag, sdk in sdks.items()}
    create: dict[str, list[float]] = {row: [] for row in peers}
    execs: dict[str, list[float]] = {row: [] for row in peers}
    failed: dict[str, list[str]] = {row: [] for row in peers}
    peer = [bare() for _ in range(n)]
    crowd: dict[str, float] = {}
    try:
        for i in range(n):  # interleaved: each row's i-th sample in one round, the order turning
            order = list(peers)
            for row in order[i % len(order) :] + order[: i % len(order)]:
                sample = peers[row].create(args.settle)
                if isinstance(sample, str):
                    failed[row].append(sample)
                    c.console.print(f"[yellow]{row}: {sample}[/yellow]")
                else:
                    create[row].append(sample)
        for _ in range(n):  # interleaved too (a worker may be booting its next sandbox meanwhile)
            for row, p in peers.items():
                execs[row] += p.ask("exec 1")
        if args.alive:
            crowd = peers[runtimes[0]].ask(f"alive {20 if args.quick else args.alive}")
    finally:
        for p in peers.values():
            p.close()
    base, base95 = c.median(peer), c.percentile(peer, 95)
    rows = [["subprocess.run (peer)", c.fmt_us(base), c.fmt_us(base95), "1x", c.fmt_us(base), c.fmt_us(base95), "1x"]]
    for r in peers:
        made, ran = c.median(create[r]), c.median(execs[r])
        made95, ran95 = c.fmt_us(c.percentile(create[r], 95)), c.fmt_us(c.percentile(execs[r], 95))
        rows.append([r, c.fmt_us(made), made95, f"{made / base:.0f}x", c.fmt_us(ran), ran95, f"{ran / base:.0f}x"])
    columns = ["runtime", "create to first output", "p95", "vs peer", "exec round trip", "p95", "vs peer"]
    for row in rows[1:]:
        if failed[row[0]]:
            row[0] += f" ({len(failed[row[0]])} failed)"
    c.table(f"Sandboxes: `echo hi` (median and p95 of {n}, settle {args.settle:g} s)", columns, rows)
    results: dict[str, Any] = {"n": n, "settle": args.settle, "peer": base, "baseline": args.baseline}
    results.update({f"create_{r}": c.median(create[r]) for r in peers})
    results.update({f"create_p95_{r}": c.percentile(create[r], 95) for r in peers})
    results.update({f"create_samples_{r}": create[r] for r in peers})
    results.update({f"exec_{r}": c.median(execs[r]) for r in peers})
    results.update({f"failed_{r}": failed[r] for r in peers if failed[r]})
    if crowd:
        c.table(
            f"{int(crowd['m'])} sandboxes alive at once on {runtimes[0]} (cpu=0.05 each)",
            ["alive when probed", "created all in", "exec p50", "exec p95"],
            [
                [
                    f"{int(crowd['alive'])}",
                    c.fmt_s(crowd["create_all_s"]),
                    c.fmt_us(crowd["exec_p50"]),
                    c.fmt_us(crowd["exec_p95"]),
                ]
            ],
        )
        results["alive"] = crowd
    c.write_json(args.json, "sandbox", results)


if __name__ == "__main__":
    main()
