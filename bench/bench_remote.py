"""Warm `.remote()` round trip of a trivial function, against Ray and multiprocessing.

    python bench/bench_remote.py [--quick] [--json FILE] [--baseline DIR]

`--baseline DIR`: also a second nano-modal, imported from DIR (a checkout or `git archive` of
an older commit), in the same interleaved rounds; both nano-modals then run in child processes
of their own (each with its embedded server, worker and container) so that neither has the
advantage of this process.

Peers, all alive for the whole run and measured in interleaved rounds so that the
machine's noise hits them alike:

* nano-modal  `f.remote(i)` (embedded server + worker, warm container)
* Ray task    `ray.get(f.remote(i))`
* Ray actor   `ray.get(actor.f.remote(i))`
* Pool.apply  `multiprocessing.Pool(2).apply(f, (i,))`

Each sample is one sequential call, timed with perf_counter. Reported: p50, p90, p99,
mean, and the per-round p50s and p99s (to show the spread: a p99 over all rounds can be one
round's load spike).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import _common as c


def identity(x: Any) -> Any:
    return x


def sample(call: Callable[[int], Any], n: int) -> list[float]:
    out = []
    perf = time.perf_counter
    for i in range(n):
        t0 = perf()
        result = call(i)
        out.append(perf() - t0)
        assert result == i, (result, i)
    return out


# A nano-modal in a child process: after its warm-up it reads a count per line and answers with
# that many sequential call times (JSON), so that its rounds interleave with the other peers'.
CHILD = """
import json, os, sys, tempfile, time
os.environ["NANO_MODAL_HOME"] = tempfile.mkdtemp(prefix="nano-modal-bench-")
os.chdir(os.environ["NANO_MODAL_HOME"])
import nano_modal

def identity(x):
    return x

app = nano_modal.App("bench-remote")
f = app.function(serialized=True)(identity)
with app.run(show_logs=False):
    for i in range(int(sys.argv[1])):
        f.remote(i)
    print("ready", flush=True)
    for line in sys.stdin:
        out = []
        for i in range(int(line)):
            t0 = time.perf_counter()
            assert f.remote(i) == i
            out.append(time.perf_counter() - t0)
        print(json.dumps(out), flush=True)
"""


class ChildPeer:
    """`sample(call, n)`'s stand-in for a nano-modal in a child process importing from `path`."""

    def __init__(self, path: str, warmup: int) -> None:
        env = {**os.environ, "PYTHONPATH": path}
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(warmup)], env=env, text=True, **pipes)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", "child failed to start"

    def sample(self, n: int) -> list[float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        times: list[float] = json.loads(self.proc.stdout.readline())
        return times

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)


def main() -> None:
    baseline_help = "also measure the nano-modal importable from this directory (an older checkout)"
    args = c.parse_args(__doc__.splitlines()[0], [(("--baseline",), {"default": None, "help": baseline_help})])
    per_round, rounds, warmup = (100, 3, 30) if args.quick else (600, 5, 200)
    c.temp_home()

    # The pool forks first, before any gRPC / Ray threads exist in this process.
    pool = multiprocessing.get_context("fork").Pool(2)

    import nano_modal

    app = nano_modal.App("bench-remote")
    # serialized: the container does not import this script, whose `import _common` needs bench/ on its path
    f = app.function(serialized=True)(identity)

    ray = c.start_ray()
    peers: dict[str, Callable[[int], Any]] = {}
    children: dict[str, ChildPeer] = {}
    if args.baseline:
        here = os.path.dirname(os.path.dirname(os.path.abspath(nano_modal.__file__)))
        children["nano-modal .remote()"] = ChildPeer(here, warmup)
        children["nano-modal .remote() baseline"] = ChildPeer(os.path.abspath(args.baseline), warmup)
    with contextlib.nullcontext() if args.baseline else app.run(show_logs=False):
        if not args.baseline:
            peers["nano-modal .remote()"] = f.remote
        if ray is not None:
            ray_f = ray.remote(identity)

            @ray.remote
            class Echo:
                def f(self, x: Any) -> Any:
                    return x

            actor = Echo.remote()
            peers["Ray task"] = lambda i: ray.get(ray_f.remote(i))
            peers["Ray actor method"] = lambda i: ray.get(actor.f.remote(i))
        peers["Pool.apply"] = lambda i: pool.apply(identity, (i,))

        for call in peers.values():
            sample(call, warmup)

        names = [*children, *peers]
        samples: dict[str, list[float]] = {name: [] for name in names}
        round_p50: dict[str, list[float]] = {name: [] for name in names}
        round_p99: dict[str, list[float]] = {name: [] for name in names}
        for r in range(rounds):
            for name in names:
                s = children[name].sample(per_round) if name in children else sample(peers[name], per_round)
                samples[name].extend(s)
                round_p50[name].append(c.percentile(s, 50))
                round_p99[name].append(c.percentile(s, 99))
            c.console.print(f"[dim]round {r + 1}/{rounds} done[/dim]")

    for child in children.values():
        child.close()
    pool.close()
    pool.join()
    if ray is not None:
        ray.shutdown()

    nano = "nano-modal .remote()"
    nano_p50 = c.percentile(samples[nano], 50)
    results: dict[str, Any] = {"calls_per_peer": per_round * rounds, "rounds": rounds, "peers": {}}
    rows = []
    for name, s in samples.items():
        p50, p90, p99 = (c.percentile(s, q) for q in (50, 90, 99))
        mean = sum(s) / len(s)
        results["peers"][name] = {
            "p50_s": p50,
            "p90_s": p90,
            "p99_s": p99,
            "mean_s": mean,
            "min_s": min(s),
            "round_p50_s": round_p50[name],
            "round_p99_s": round_p99[name],
            "n": len(s),
        }
        rows.append(
            [
                name,
                c.fmt_us(p50),
                c.fmt_us(p90),
                c.fmt_us(p99),
                c.fmt_us(mean),
                f"{1 / mean:,.0f}",
                " / ".join(c.fmt_us(x) for x in round_p50[name]),
                " / ".join(c.fmt_us(x) for x in round_p99[name]),
                "1.00x" if name == nano else c.ratio(nano_p50, p50),
            ]
        )
    c.table(
        f"Warm round trip of a trivial function ({per_round * rounds} sequential calls per peer, {rounds} rounds)",
        ["peer", "p50", "p90", "p99", "mean", "calls/s", "p50 per round", "p99 per round", "nano p50 ÷ peer p50"],
        rows,
    )
    c.write_json(args.json, "remote", results)


if __name__ == "__main__":
    main()
