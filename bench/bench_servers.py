"""Several servers on one store: the cost of a follower's hop, and the time a takeover takes.

    python bench/bench_servers.py [--quick] [--store sqlite,postgresql] [--json FILE]

One active server, one follower on the same store (docs/DEPLOY.md), one worker. A client
asks the active server directly or the follower (which forwards every call to it):

* `.remote()` round trip of a trivial function (warm container), p50 over sequential calls;
* `.map` throughput of trivial inputs;
  both measured in interleaved rounds, so the machine's noise hits both paths alike.
* takeover: the active server is killed with SIGKILL; time until a call that needs the
  active server (`AppList`) sent to the follower's address is answered, by the follower as
  the new active server (its lease poll, on PostgreSQL the takeover grace of
  LEADER_TAKEOVER_GRACE s, recovery from the store). (`Hello` is no test: a follower answers
  it itself.)
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import _common as c

sys.path.insert(0, str(c.REPO))
from nano_modal import config
from nano_modal.proto import api_pb2
from tests import pg
from tests.faults.cluster import FaultCluster, wait_until

CLIENT = """
import json, sys, time
import nano_modal

app = nano_modal.App("bench-servers")


@app.function()
def f(x: int) -> int:
    return x


if __name__ == "__main__":
    calls, n = int(sys.argv[1]), int(sys.argv[2])
    with app.run():
        list(f.map(range(200)))  # warm: containers up, connections open
        samples = []
        for i in range(calls):
            t0 = time.perf_counter()
            assert f.remote(i) == i
            samples.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        assert len(list(f.map(range(n)))) == n
        print("RESULT", json.dumps({"remote": samples, "map_rate": n / (time.perf_counter() - t0)}))
"""


def run_client(cluster: FaultCluster, url: str, calls: int, n: int) -> dict[str, Any]:
    cluster.overrides["NANO_MODAL_SERVER_URL"] = url
    index = len(cluster.clients)
    client = cluster.run_client(CLIENT, str(calls), str(n))
    assert client.wait(600) == 0, cluster.client_log(index)
    line = next(ln for ln in cluster.client_log(index).splitlines() if ln.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def takeover(cluster: FaultCluster, follower_url: str) -> float:
    assert cluster.server is not None
    cluster.server.send_signal(signal.SIGKILL)
    t0 = time.perf_counter()
    cluster.server.wait()
    host, port = follower_url.rsplit(":", 1)
    probe = FaultCluster(cluster.state_dir, token=cluster.token, port=int(port), host=host)

    def answered() -> bool:
        try:
            probe.rpc("AppList", api_pb2.AppListRequest(), timeout=2)
            return True
        except Exception:
            return False

    wait_until("the follower to take over", answered, timeout=60, interval=0.01)
    return time.perf_counter() - t0


def bench_store(kind: str, url: str | None, tmp: Path, calls: int, n: int, rounds: int) -> dict[str, Any]:
    cluster = FaultCluster(tmp / kind, url)
    cluster.state_dir.mkdir()
    try:
        cluster.start_server()
        follower_url = f"127.0.0.1:{cluster.start_follower()}"
        cluster.overrides["NANO_MODAL_SERVER_URL"] = f"{cluster.url},{follower_url}"
        cluster.start_worker()
        paths = {"active server": cluster.url, "through a follower": follower_url}
        results: dict[str, Any] = {name: {"remote_p50": [], "map_rate": []} for name in paths}
        for _ in range(rounds):
            for name, address in paths.items():
                got = run_client(cluster, address, calls, n)
                results[name]["remote_p50"].append(c.median(got["remote"]))
                results[name]["map_rate"].append(got["map_rate"])
        results["takeover_s"] = takeover(cluster, follower_url)
        return results
    finally:
        cluster.close()


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [(("--store",), {"default": "sqlite,postgresql", "help": "comma-separated: sqlite, postgresql"})],
    )
    calls, n, rounds = (100, 2000, 1) if args.quick else (300, 10_000, 3)
    c.temp_home()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        for kind in args.store.split(","):
            url = stack.enter_context(pg.postgres_server()) if kind == "postgresql" else None
            results[kind] = bench_store(kind, url, Path(tmp), calls, n, rounds)
    rows = []
    for kind, r in results.items():
        base = r["active server"]
        for path in ("active server", "through a follower"):
            p50, rate = c.median(r[path]["remote_p50"]), c.median(r[path]["map_rate"])
            rows.append(
                (
                    kind,
                    path,
                    c.fmt_us(p50),
                    c.ratio(p50, c.median(base["remote_p50"])),
                    c.fmt_rate(rate),
                    c.ratio(rate, c.median(base["map_rate"])),
                )
            )
    c.table(
        f".remote() p50 ({calls} sequential calls) and .map of {n:,} trivial inputs, {rounds} interleaved rounds",
        ["store", "client asks", ".remote p50", "vs active", "map rate", "vs active"],
        rows,
    )
    c.table(
        "takeover: SIGKILL of the active server to the follower answering"
        f" (PostgreSQL grace {config.LEADER_TAKEOVER_GRACE:g} s)",
        ["store", "time"],
        [(kind, c.fmt_s(r["takeover_s"])) for kind, r in results.items()],
    )
    c.write_json(args.json, "bench_servers", results)


if __name__ == "__main__":
    main()
