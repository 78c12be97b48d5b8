"""modalflow's Modal app in its own image, built through a registry mirror on a root bwrap worker.

Starts a nano-modal server and a `bwrap` worker whose Docker Hub mirror is the stand-in registry
(stand_in_image.py) and whose other HTTP(S) goes to a dead proxy (no Docker Hub), deploys
`modalflow.modal_app` with the real `modal` client from the modalflow test venv
(tests/modal_compat/test_modalflow.py makes it), and calls its `execute_modal_task` once with a
command (modalflow's old-style payload) that prints Airflow's version from inside the image:

    sudo PYTHONPATH=$PWD python integrations/modalflow/probe_own_image.py http://127.0.0.1:<port>

Not a DAG run (Airflow's scheduler and API server are not started): run_dag_own_image.py runs one.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import start_server, start_worker, stop
from tests.modal_compat.test_modalflow import VENV

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers, so any non-loopback request fails
PROBE = """
import json, modal
f = modal.Function.from_name("modalflow-main", "execute_modal_task")
f.remote({"task_key": "probe", "env": {}, "command": ["bash", "-c", %r]})
print("STATE " + json.dumps(modal.Dict.from_name("airflow-state-main")["probe"]))
"""
PROBE_COMMAND = (
    'airflow version; python -c "import modalflow, sys; print(modalflow.__file__, sys.version.split()[0])";'
    " id airflow; echo AIRFLOW_HOME=$AIRFLOW_HOME"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", help="the stand-in registry's URL, as stand_in_image.py prints it")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="modalflow-own-image-"))
    token = secrets.token_urlsafe(16)
    server, url = start_server(base, token)
    no_docker_hub = {name: DEAD_PROXY for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")}
    worker_env = {
        "NANO_MODAL_REGISTRY_MIRRORS": f"docker.io={args.mirror}",
        "NANO_MODAL_IMAGES_DIR": str(base / "images"),  # a fresh one: the base is pulled, not taken from a cache
        **no_docker_hub,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    worker = start_worker(url, token, base / "worker.log", "--runtime", "bwrap", env=worker_env)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
        env.update({"NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": token})
        created = subprocess.run(
            [sys.executable, "-m", "nano_modal", "token", "create", "--modal"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        modal_env = {k: v for k, v in env.items() if not k.startswith(("NANO_MODAL_", "PYTHONPATH"))}
        for line in created.stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").partition("=")
                modal_env[key] = value
        modal_env["MODALFLOW_DAGS_VOLUME"] = "airflow-dags"
        python = str(VENV / "bin" / "python")
        deploy = [python, "-m", "modal", "deploy", "-m", "modalflow.modal_app"]
        subprocess.run(deploy, env=modal_env, check=True, timeout=300)
        t0 = time.monotonic()
        probe = PROBE % PROBE_COMMAND
        done = subprocess.run([python, "-c", probe], env=modal_env, capture_output=True, text=True, timeout=900)
        print(f"call: exit {done.returncode} after {time.monotonic() - t0:.0f} s (the image's build included)")
        state = next((line for line in done.stdout.splitlines() if line.startswith("STATE ")), "")
        print(json.dumps(json.loads(state.removeprefix("STATE "))["stdout"]) if state else done.stderr[-3000:])
    finally:
        stop(worker)
        stop(server)
    print(f"server state, worker log and images: {base}")


if __name__ == "__main__":
    main()
