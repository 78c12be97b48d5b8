"""The fast lane against gRPC for unary calls: warm `.remote()` and `Dict` get/put.

    python bench/bench_fast_lane.py [--quick] [--json FILE]

Two child processes, each with its own embedded server and worker: one with the fast lane
(the default), one with NANO_MODAL_FAST_LANE=0 (every call over gRPC, in the client and in
the containers). The parent asks them for rounds in turn, so that the machine's noise hits
both alike; each round is N sequential calls per operation, timed in the child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import _common as c

CHILD = r"""
import json, sys, time
import nano_modal

app = nano_modal.App("bench-fast-lane")

@app.function(serialized=True)
def identity(x):
    return x

def timed(fn, n):
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out

with app.run(show_logs=False), nano_modal.Dict.ephemeral() as d:
    d["k"] = 1
    ops = {"remote": identity.remote, "dict_get": lambda i: d["k"], "dict_put": lambda i: d.__setitem__("k", i)}
    for fn in ops.values():
        timed(fn, 100)  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        print(json.dumps({name: timed(fn, n) for name, fn in ops.items()}), flush=True)
"""


def start(fast: bool) -> subprocess.Popen[str]:
    env = {**os.environ, "NANO_MODAL_FAST_LANE": "1" if fast else "0"}
    env["NANO_MODAL_HOME"] = str(c.temp_home(prefix=f"bench-fast-{int(fast)}-"))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    while (line := child.stdout.readline().strip()) != "ready":
        if not line and child.poll() is not None:
            raise RuntimeError("a benchmark child failed to start")
    return child


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0])
    per_round, rounds = (200, 3) if args.quick else (1000, 5)
    children = {"fast lane": start(True), "gRPC only": start(False)}
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in children}
    round_p50: dict[str, dict[str, list[float]]] = {name: {} for name in children}
    for r in range(rounds):
        for name, child in children.items():
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(f"{per_round}\n")
            child.stdin.flush()
            for op, values in json.loads(child.stdout.readline()).items():
                samples[name].setdefault(op, []).extend(values)
                round_p50[name].setdefault(op, []).append(c.percentile(values, 50))
        c.console.print(f"[dim]round {r + 1}/{rounds} done[/dim]")
    for child in children.values():
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)

    results: dict[str, Any] = {"calls_per_op": per_round * rounds, "rounds": rounds, "ops": {}}
    rows = []
    for op in samples["fast lane"]:
        fast, slow = samples["fast lane"][op], samples["gRPC only"][op]
        p50_fast, p50_slow = c.percentile(fast, 50), c.percentile(slow, 50)
        results["ops"][op] = {
            name: {
                "p50_s": c.percentile(s[op], 50),
                "p99_s": c.percentile(s[op], 99),
                "round_p50_s": round_p50[name][op],
            }
            for name, s in samples.items()
        }
        rows.append(
            [
                op,
                c.fmt_us(p50_fast),
                c.fmt_us(c.percentile(fast, 99)),
                c.fmt_us(p50_slow),
                c.fmt_us(c.percentile(slow, 99)),
                c.ratio(p50_slow, p50_fast),
            ]
        )
    c.table(
        f"Unary calls: fast lane vs gRPC ({per_round * rounds} sequential calls per op, {rounds} interleaved rounds)",
        ["operation", "fast p50", "fast p99", "gRPC p50", "gRPC p99", "gRPC p50 ÷ fast p50"],
        rows,
    )
    c.write_json(args.json, "fast_lane", results)


if __name__ == "__main__":
    main()
