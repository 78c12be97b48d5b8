"""The real `modal` client against nano-modal, beside the nano_modal SDK on the same server.

    python bench/bench_modal_client.py [--quick]

One server and one worker (process runtime), run from the scratch venv the tests make
(modal from PyPI; tests/modal_compat/conftest.py). Measured, one warm container each:

* warm `.remote()` of a trivial function: p50, p99 (sequential calls)
* `.map` of N trivial inputs: inputs per second

through the real client (a `modal run` whose entrypoint times itself) and through the
nano_modal SDK from this process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as c

MODAL_APP = """
import json, sys, time
import modal

app = modal.App("bench-modal-client")


@app.function(max_containers=1)
def identity(x):
    return x


@app.local_entrypoint()
def main(n: int, map_n: int):
    for i in range(20):  # cold start, then warm
        identity.remote(i)
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        identity.remote(i)
        samples.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    assert list(identity.map(range(map_n))) == list(range(map_n))
    print("RESULT " + json.dumps({"remote": samples, "map_s": time.perf_counter() - t0}))
"""


def nano_sdk(n: int, map_n: int) -> dict[str, Any]:
    import nano_modal

    app = nano_modal.App("bench-nano-sdk")

    @app.function(max_containers=1, serialized=True)
    def identity(x: int) -> int:
        return x

    with app.run():
        for i in range(20):
            identity.remote(i)
        samples = []
        for i in range(n):
            t0 = time.perf_counter()
            identity.remote(i)
            samples.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        assert list(identity.map(range(map_n))) == list(range(map_n))
        return {"remote": samples, "map_s": time.perf_counter() - t0}


def main() -> None:
    args = c.parse_args(__doc__ or "")
    sys.path.insert(0, str(c.REPO))
    from tests.conftest import start_server, start_worker, stop
    from tests.modal_compat.conftest import make_modal_venv

    venv = make_modal_venv()
    if isinstance(venv, str):
        c.console.print(f"[yellow]skipped: {venv}[/yellow]")
        return
    n, map_n = (100, 1_000) if args.quick else (500, 10_000)
    home = c.temp_home()
    token = secrets.token_urlsafe(16)
    python = str(Path(venv) / "bin" / "python")
    server, url = start_server(home, token, python=python)
    worker = start_worker(url, token, home / "worker.log", "--runtime", "process", python=python)
    try:
        (home / "app.py").write_text(MODAL_APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
        env |= {"MODAL_SERVER_URL": f"http://{url}", "MODAL_TOKEN_ID": "nm", "MODAL_TOKEN_SECRET": token}
        env["MODAL_CONFIG_PATH"] = str(home / "modal.toml")
        run = subprocess.run(
            [str(Path(venv) / "bin" / "modal"), "run", "app.py", "--n", str(n), "--map-n", str(map_n)],
            cwd=home, env=env, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"modal run failed:\n{run.stdout}\n{run.stderr}")
        results = {"modal client 1.6.4": json.loads(line.removeprefix("RESULT "))}
        os.environ.update({"NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token, "NANO_MODAL_HOME": str(home)})
        results["nano_modal SDK"] = nano_sdk(n, map_n)
    finally:
        stop(worker)
        stop(server)
    c.table(
        f"Warm .remote() ({n} sequential calls) and .map of {map_n:,} trivial inputs, one container, same server",
        ["client", "remote p50", "remote p99", "map inputs/s"],
        [
            [name, c.fmt_us(c.percentile(r["remote"], 50)), c.fmt_us(c.percentile(r["remote"], 99)),
             c.fmt_rate(map_n / r["map_s"])]
            for name, r in results.items()
        ],
    )  # fmt: skip
    c.console.print(f"[dim]load average at the end: {os.getloadavg()}[/dim]")


if __name__ == "__main__":
    main()
