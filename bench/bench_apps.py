"""Services: web endpoint requests/s and latency through the gateway vs plain uvicorn;
@batched vs unbatched throughput; deploy-to-first-call time.

    python bench/bench_apps.py [--quick]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _common import (
    REPO,
    console,
    fmt_rate,
    fmt_s,
    fmt_us,
    free_port,
    median,
    parse_args,
    percentile,
    ratio,
    table,
    temp_home,
)

sys.path.insert(0, str(REPO))


async def load(url: str, seconds: float, concurrency: int) -> tuple[float, list[float], int]:
    """Closed-loop load: `concurrency` clients, each sending its next request when the last returns."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(i: int) -> None:
            nonlocal errors
            n = i
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                response = await client.get(url, params={"x": n})
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200
                n += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def plain_uvicorn(port: int) -> subprocess.Popen[bytes]:
    code = (
        f"import sys, uvicorn; sys.path.insert(0, {str(REPO)!r})\n"
        "from bench.apps.web_bench_app import make_api\n"
        f"uvicorn.run(make_api(), host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/square?x=1", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("uvicorn did not start")


def bench_web(seconds: float, concurrency: int) -> None:
    from bench.apps import web_bench_app

    port = free_port()
    proc = plain_uvicorn(port)
    try:
        rows = []
        with web_bench_app.app.run(show_logs=False):
            gateway = (web_bench_app.web.get_web_url() or "") + "square"
            targets = {"plain uvicorn": f"http://127.0.0.1:{port}/square", "nano-modal gateway": gateway}
            results = {}
            for name, url in targets.items():
                asyncio.run(load(url, 1.0, concurrency))  # warm up (container start, connections)
                results[name] = asyncio.run(load(url, seconds, concurrency))
            base_rps = results["plain uvicorn"][0]
            for name, (rps, lat, errors) in results.items():
                rows.append(
                    [
                        name,
                        fmt_rate(rps),
                        fmt_us(percentile(lat, 50)),
                        fmt_us(percentile(lat, 99)),
                        errors,
                        ratio(rps, base_rps),
                    ]
                )
        table(
            f"Web endpoint: GET /square, {concurrency} concurrent clients, {seconds:g}s",
            ["server", "requests/s", "p50", "p99", "errors", "vs uvicorn"],
            rows,
        )
    finally:
        proc.terminate()
        proc.wait()


def bench_batched(n: int, reps: int) -> None:
    from bench.apps import web_bench_app

    with web_bench_app.app.run(show_logs=False):
        list(web_bench_app.one.map(range(200)))
        list(web_bench_app.many.map(range(200)))
        rates: dict[str, list[float]] = {"unbatched": [], "@batched(100, 5 ms)": []}
        for _ in range(reps):
            for name, fn in (("unbatched", web_bench_app.one), ("@batched(100, 5 ms)", web_bench_app.many)):
                start = time.perf_counter()
                assert sum(fn.map(range(n))) == 2 * sum(range(n))
                rates[name].append(n / (time.perf_counter() - start))
    base = median(rates["unbatched"])
    table(
        f"@batched vs unbatched: .map of {n:,} trivial inputs, one container, median of {reps}",
        ["function", "inputs/s", "vs unbatched"],
        [[name, fmt_rate(median(r)), ratio(median(r), base)] for name, r in rates.items()],
    )


def bench_deploy(reps: int, home: Path) -> None:
    """Time from `nano-modal deploy` starting to the first result of a call by name, server already up."""
    from tests.conftest import start_server, start_worker, stop

    state = home / "deploy-server"
    state.mkdir()
    token = "bench-token"
    server, url = start_server(state, token)
    worker = start_worker(url, token, state / "worker.log")
    env = {**os.environ, "NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token}
    source = home / "deploy_bench.py"
    times = []
    try:
        for i in range(reps):
            source.write_text(
                f"import nano_modal\napp = nano_modal.App('deploy-bench')\n"
                f"@app.function()\ndef f(x):\n    return x + {i}\n"
            )
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "nano_modal.cli", "deploy", str(source)],
                env=env,
                check=True,
                capture_output=True,
            )
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import nano_modal; print(nano_modal.Function.from_name('deploy-bench', 'f').remote(1))",
                ],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            times.append(time.perf_counter() - start)
            assert out.strip() == str(1 + i)
    finally:
        stop(worker)
        stop(server)
    table(
        f"Deploy to first call (CLI deploy + a new process calling by name), median of {reps}",
        ["step", "median", "min"],
        [["deploy → first result", fmt_s(median(times)), fmt_s(min(times))]],
    )


def main() -> None:
    args = parse_args(__doc__ or "")
    home = temp_home()
    bench_web(seconds=3 if args.quick else 10, concurrency=16)
    bench_batched(n=2_000 if args.quick else 20_000, reps=1 if args.quick else 3)
    bench_deploy(reps=2 if args.quick else 5, home=home)
    console.print("[dim]done[/dim]")


if __name__ == "__main__":
    main()
