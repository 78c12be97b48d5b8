"""Soak: many short-lived containers and many calls against one real server; does it stay flat?

    python bench/bench_soak.py [--minutes M] [--churn K] [--calls N] [--json FILE]

A real server and one `process`-runtime worker (issue 17: a server that runs for weeks must
not slow down or grow). Rounds until `--minutes` have passed, each: a map of K inputs over
`short` (max_inputs=1, scaledown_window=1 s: every input starts and ends a container of its
own), then a map of N inputs over `fast` (warm containers). After every round: the server's
RSS, the containers it still knows (exited ones are forgotten EXITED_RETENTION = 600 s after
their exit) and its scheduler pass time, mean and max of the last 200 passes, read from the
gateway's /_/metrics (nano_modal_scheduler_pass_seconds).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import _common as c
import httpx

from nano_modal import config


def _metrics(base_url: str, token: str) -> dict[str, float]:
    text = httpx.get(f"{base_url}/_/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    found: dict[str, float] = {}
    for name, key in (
        (r'nano_modal_scheduler_pass_seconds\{stat="mean"\}', "pass_mean"),
        (r'nano_modal_scheduler_pass_seconds\{stat="max"\}', "pass_max"),
        (r"nano_modal_containers_known", "known"),
    ):
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        found[key] = float(match.group(1)) if match else float("nan")
    return found


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [
            (("--minutes",), {"type": float, "default": 20.0}),
            (("--churn",), {"type": int, "default": 100, "help": "containers started and stopped per round"}),
            (("--calls",), {"type": int, "default": 5000, "help": "warm calls per round"}),
        ],
    )
    minutes, churn, calls = (2.0, 20, 500) if args.quick else (args.minutes, args.churn, args.calls)
    home = c.temp_home()
    os.environ[config.ENV_RUNTIME] = "process"  # the cheapest container start: what is measured is the server
    cluster = c.Cluster(home)

    import grpc

    import nano_modal
    from nano_modal.proto import api_pb2, api_pb2_grpc

    app = nano_modal.App("soak")

    @app.function(serialized=True, max_inputs=1, scaledown_window=1)
    def short(i: int) -> int:
        return i

    @app.function(serialized=True, max_containers=2)
    def fast(i: int) -> int:
        return i

    samples: list[dict[str, Any]] = []
    started_containers = total_calls = 0
    with app.run():
        with grpc.insecure_channel(cluster.url) as channel:
            stub = api_pb2_grpc.NanoModalStub(channel)  # type: ignore[no-untyped-call]
            hello = stub.Hello(api_pb2.HelloRequest(), metadata=((config.TOKEN_METADATA_KEY, cluster.token),))
        base_url = hello.web_base_url.rstrip("/")
        start = time.monotonic()
        while time.monotonic() - start < minutes * 60:
            assert sorted(short.map(range(churn))) == list(range(churn))
            assert sum(fast.map(range(calls))) == calls * (calls - 1) // 2
            started_containers += churn
            total_calls += churn + calls
            sample = {
                "elapsed_s": time.monotonic() - start,
                "containers": started_containers,
                "calls": total_calls,
                "rss": c.rss_bytes(cluster.server.pid),
                **_metrics(base_url, cluster.token),
            }
            samples.append(sample)
            print(
                f"{sample['elapsed_s']:7.0f}s {started_containers:7d} containers {total_calls:9d} calls "
                f"rss {c.fmt_mb(sample['rss'])} known {sample['known']:.0f} "
                f"pass mean {sample['pass_mean'] * 1000:.2f} ms max {sample['pass_max'] * 1000:.2f} ms",
                flush=True,
            )
    tenth = max(1, len(samples) // 10)
    rows = [s for i, s in enumerate(samples) if i == 0 or (i + 1) % tenth == 0]  # the first, then every tenth
    c.table(
        "Soak: server RSS and scheduler pass time as containers churn",
        ["elapsed", "containers", "calls", "server RSS", "known", "pass mean", "pass max"],
        [
            (
                f"{s['elapsed_s']:.0f} s",
                f"{s['containers']:,}",
                f"{s['calls']:,}",
                c.fmt_mb(s["rss"]),
                f"{s['known']:.0f}",
                f"{s['pass_mean'] * 1000:.2f} ms",
                f"{s['pass_max'] * 1000:.2f} ms",
            )
            for s in rows
        ],
    )
    c.write_json(args.json, "soak", {"machine": c.machine(), "samples": samples})


if __name__ == "__main__":
    main()
