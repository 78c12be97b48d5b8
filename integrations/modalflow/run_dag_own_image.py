"""Airflow 3 runs a DAG with modalflow's executor on a root bwrap worker, in modalflow's own image.

Issue 15 end to end, unattended. The stand-in for modalflow's base image (stand_in_image.py:
nano-modal's own image builder) is pushed to a `docker-registry` on loopback that the worker
takes as Docker Hub's mirror (NANO_MODAL_REGISTRY_MIRRORS); the worker's other HTTP(S) goes to
a dead proxy, so Docker Hub is out of reach. modalflow 0.3.1 (PyPI, unchanged) deploys its app
with the real `modal` client; its image is built on the worker's first container. Airflow's API
server listens on one private address, on an interface this script makes, and the worker's
`--allow-net` opens that address alone (a /32) to its containers, which call Airflow's execution
API from their own network namespace. The example DAG (examples/airflow_modalflow) then runs
as tests/modal_compat/test_modalflow.py runs it on the process runtime, with the same checks:
`where` -> `shout` -> `report` pass XComs along, `boom` fails, and every task's container id is
in `nano-modal app logs`.

    sudo PYTHONPATH=$PWD python integrations/modalflow/run_dag_own_image.py

Root (overlay mounts, bwrap's root worker, the interface), Debian's `docker-registry`,
bwrap and slirp4netns. Not in the test run: it takes minutes (docs/MODAL_CLIENT.md has its
last result) and installs from PyPI (Airflow into the test venv once; modalflow's image's
`pip_install` at each build).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from integrations.modalflow.stand_in_image import build, modalflow_base_ref, push
from tests.conftest import start_server, start_worker, stop
from tests.modal_compat.conftest import make_scratch_venv
from tests.modal_compat.test_modalflow import REQUIREMENTS, VENV, airflow_on, check_dag_run
from tests.worker.oci_fixtures import Registry

# Where Airflow's API server listens: private (RFC 1918), so the worker's policy denies it to
# containers unless --allow-net names it, and not among the tests' peers (tests/security/_peer.py).
API_ADDRESS = "10.254.91.1"
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers, so any proxied request fails
NEEDED = ("docker-registry", "bwrap", "slirp4netns", "ip")


@contextlib.contextmanager
def interface_with(address: str) -> Iterator[str]:
    """`address` (a /32) on an interface of its own until the block ends; yields its name. A veth
    pair with both ends on the host: this kernel has no `dummy` interfaces (not built in)."""
    name = f"nmaf{secrets.token_hex(3)}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)  # (its peer goes with it)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the pushed stand-in and the worker's images")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run_dag_own_image.py needs root: overlay mounts, a root bwrap worker, an interface")
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"run_dag_own_image.py needs {', '.join(missing)} (apt-get install)")
    venv = make_scratch_venv(VENV, REQUIREMENTS, "import airflow.sdk, modalflow.executor, modal")
    if isinstance(venv, str):
        raise SystemExit(venv)
    base = Path(tempfile.mkdtemp(prefix="modalflow-dag-own-image-"))
    times: dict[str, float] = {}
    t0 = time.monotonic()
    built = asyncio.run(build())
    (base / "registry").mkdir()
    registry = Registry.start(base / "registry")
    try:
        push(registry.url, modalflow_base_ref(), built, base / "registry")
        times["stand-in image built (cached) and pushed"] = time.monotonic() - t0
        with interface_with(API_ADDRESS):
            run_dag(venv, base, registry.url, times)
    finally:
        registry.stop()
        if not args.keep:
            remove_large_parts(base)
    for what, seconds in times.items():
        print(f"{what}: {seconds:.0f} s")
    print(f"server state, worker and Airflow logs: {base}")


def remove_large_parts(base: Path) -> None:
    """The pushed layer (~550 MB) and the worker's images (~1.2 GB), unless something is still
    mounted under them (a worker that did not stop cleanly): then they stay, with a line."""
    mounts = Path("/proc/mounts").read_text()
    for part in (base / "registry", base / "images"):
        if f" {part}/" in mounts:
            print(f"left {part}: something is still mounted under it")
        else:
            shutil.rmtree(part, ignore_errors=True)


def run_dag(venv: Path, base: Path, mirror: str, times: dict[str, float]) -> None:
    token = secrets.token_urlsafe(16)
    server, url = start_server(base, token)
    no_docker_hub = {name: DEAD_PROXY for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")}
    no_proxy = f"127.0.0.1,localhost,{API_ADDRESS}"
    worker_env = {
        "NANO_MODAL_REGISTRY_MIRRORS": f"docker.io={mirror}",
        "NANO_MODAL_IMAGES_DIR": str(base / "images"),  # a fresh one: the base is pulled, not taken from a cache
        **no_docker_hub,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }
    allow = ("--allow-net", f"{API_ADDRESS}/32")  # that address only: the host's others stay denied
    worker = start_worker(url, token, base / "worker.log", "--runtime", "bwrap", *allow, env=worker_env)
    try:
        t0 = time.monotonic()
        with airflow_on(venv, base, url, token, api_host=API_ADDRESS) as cluster:
            times["deploy, DAG sync, Airflow's db migrate and services up"] = time.monotonic() - t0
            t0 = time.monotonic()
            containers = check_dag_run(cluster, "own-image")
            times["DAG run, modalflow's image build on the first container included"] = time.monotonic() - t0
            print("XComs passed along, each task's container in `nano-modal app logs`:", " -> ".join(containers))
            # The image's build log is its first container's: the pull of the base says where from.
            app_logs = subprocess.run(
                [sys.executable, "-m", "nano_modal", "app", "logs", "modalflow-main", "--lines", "5000"],
                env=cluster.nano_modal_env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            pulled = [line for line in app_logs.stdout.splitlines() if "pulling from mirror" in line]
            assert pulled, f"modalflow's image was not pulled through the mirror: {app_logs.stdout[-3000:]}"
            print(pulled[0])
    finally:
        stop(worker)
        stop(server)


if __name__ == "__main__":
    main()
