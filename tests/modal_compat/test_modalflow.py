"""Airflow with modalflow's ModalExecutor (PyPI) runs its tasks on nano-modal (issue 15, seed 001).

Real parts only: Airflow from PyPI (its scheduler and API server, a DAG run triggered from its
CLI), modalflow's executor, its Modal app (DAGs on a volume: `--dags-source volume`) and its
`sync` command, the real `modal` client, nano-modal's server and worker. Their venv is made once
and kept across sessions, named after the versions it holds; the worker runs from it too, so
the containers' Python (the "image", docs/MODAL_CLIENT.md) has Airflow.
examples/airflow_modalflow/README.md shows users the same steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, start_server, start_worker, stop
from tests.helpers import free_port, wait_for
from tests.modal_compat.conftest import MODAL_VERSION, make_scratch_venv

pytestmark = pytest.mark.slow(reason="installs Airflow from PyPI once; runs Airflow's scheduler and API server")

AIRFLOW_VERSION = "3.1.5"  # the version modalflow's own image installs (its `deploy --airflow-version` default)
MODALFLOW_VERSION = "0.3.1"
VENV = Path(tempfile.gettempdir()) / (
    f"nano-modal-test-airflow-{AIRFLOW_VERSION}-modalflow-{MODALFLOW_VERSION}-modal-{MODAL_VERSION}"
)
REQUIREMENTS = (f"apache-airflow=={AIRFLOW_VERSION}", f"modalflow=={MODALFLOW_VERSION}", f"modal=={MODAL_VERSION}")
EXAMPLE = REPO / "examples" / "airflow_modalflow"
DAG_ID = "remote_hello"
RESULTS_DICT = "modalflow-example-results"  # the example DAG's
DAGS_VOLUME = "airflow-dags"
# Where modalflow's Modal function mounts its volumes (logs always; DAGs with --dags-source
# volume), as in the official Airflow image: the process runtime makes these mount points on
# the host, which the test removes if they were not there before.
AIRFLOW_IMAGE_HOME = Path("/opt/airflow")
DAGS_MOUNT = AIRFLOW_IMAGE_HOME / "dags"
RUN_TIMEOUT = 600  # seconds for the whole DAG run: four tasks (three in a row), each starts Airflow's runner


@dataclass
class AirflowOnNanoModal:
    venv: Path
    home: Path  # AIRFLOW_HOME
    env: dict[str, str]  # Airflow's settings and the modal client's credentials
    nano_modal_env: dict[str, str]  # the nano-modal CLI's, as the server's admin

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
        return done

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """An Airflow service in its own process group (the API server forks its workers)."""
        log = (self.home / f"{name}.log").open("ab")
        return subprocess.Popen(
            [str(self.venv / "bin" / "airflow"), *args],
            cwd=self.home,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _modal_token_pair(server_url: str, admin_token: str) -> dict[str, str]:
    """`nano-modal token create --modal`, as the server's admin: the exports it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
    env.update({"NANO_MODAL_SERVER_URL": server_url, "NANO_MODAL_TOKEN": admin_token})
    created = subprocess.run(
        [sys.executable, "-m", "nano_modal", "token", "create", "--modal"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = created.stdout.splitlines()
    return dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))


def _remove_if_made(paths: list[Path], existed: list[bool]) -> None:
    for path, was_there in zip(paths, existed, strict=True):  # deepest first
        if not was_there:
            with contextlib.suppress(OSError):
                path.unlink() if path.is_symlink() else path.rmdir()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowOnNanoModal]:
    mount_points = [DAGS_MOUNT, AIRFLOW_IMAGE_HOME / "logs", AIRFLOW_IMAGE_HOME]  # deepest first
    if not AIRFLOW_IMAGE_HOME.exists() and not os.access(AIRFLOW_IMAGE_HOME.parent, os.W_OK):
        pytest.skip(f"modalflow mounts its volumes under {AIRFLOW_IMAGE_HOME}: the process runtime needs /opt writable")
    venv = make_scratch_venv(VENV, REQUIREMENTS, "import airflow.sdk, modalflow.executor, modal")
    if isinstance(venv, str):
        pytest.skip(venv)
    python = str(venv / "bin" / "python")
    base = tmp_path_factory.mktemp("airflow-on-nano-modal")
    admin_token = secrets.token_urlsafe(16)
    existed = [p.exists() or p.is_symlink() for p in mount_points]
    server, url = start_server(base, admin_token, python=python)
    # The worker's Python is the containers' "image": Airflow's settings there are the worker's
    # --env (README.md), where the official Airflow image's ENV would set them: the DAGs are
    # where modalflow mounts their volume.
    worker = start_worker(
        url,
        admin_token,
        base / "worker.log",
        "--runtime",
        "process",
        "--env",
        f"AIRFLOW__CORE__DAGS_FOLDER={DAGS_MOUNT}",
        "--env",
        "AIRFLOW__CORE__LOAD_EXAMPLES=False",
        python=python,
    )
    try:
        with airflow_on(venv, base, url, admin_token) as cluster:
            yield cluster
    finally:
        stop(worker)
        stop(server)
        _remove_if_made(mount_points, existed)


@contextlib.contextmanager
def airflow_on(
    venv: Path, base: Path, url: str, admin_token: str, api_host: str = "127.0.0.1"
) -> Iterator[AirflowOnNanoModal]:
    """modalflow's app deployed on nano-modal (server `url`), the example's DAGs on its volume,
    and Airflow's API server (on `api_host`, where the containers call its execution API) and
    scheduler, with modalflow's executor, until the block ends. Also integrations/modalflow's."""
    dags = base / "dags"  # a copy: Airflow writes __pycache__ next to the DAG files
    shutil.copytree(EXAMPLE / "dags", dags)
    home = base / "airflow-home"
    home.mkdir()
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_", "AIRFLOW"))}
    env.update(_modal_token_pair(url, admin_token))
    env.update(
        {
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "MODAL_CONFIG_PATH": str(base / "modal.toml"),  # not the user's ~/.modal.toml
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "modalflow.executor.ModalExecutor",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),  # the scheduler's and API server's
        }
    )
    nano_modal_env = {**os.environ, "NANO_MODAL_SERVER_URL": url, "NANO_MODAL_TOKEN": admin_token}
    cluster = AirflowOnNanoModal(venv, home, env, nano_modal_env)
    services: list[subprocess.Popen[bytes]] = []
    try:
        # What `modalflow deploy --dags-source volume --dags-volume ... --dags-path dags` runs, with
        # the `-m` that modal 1.6 requires and modalflow 0.3.1 leaves out (`modal deploy
        # modalflow.modal_app`), then its upload of the DAGs, `modalflow sync`.
        cluster.env["MODALFLOW_DAGS_VOLUME"] = DAGS_VOLUME
        cluster.run("python", "-m", "modal", "deploy", "-m", "modalflow.modal_app")
        cluster.run("modalflow", "sync", "--dags-path", str(dags), "--dags-volume", DAGS_VOLUME)
        cluster.run("airflow", "db", "migrate")
        cluster.run("airflow", "dags", "reserialize")  # the DAG into the database: no DAG processor needed
        services.append(cluster.start("api-server", "api-server", "--host", api_host, "--port", str(api_port)))
        services.append(cluster.start("scheduler", "scheduler"))
        health = f"http://{api_host}:{api_port}/execution/health"
        assert wait_for(lambda: _answers(health), timeout=120, interval=0.5), (home / "api-server.log").read_text()
        yield cluster
    finally:
        for service in services:
            _stop_group(service)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _run_state(cluster: AirflowOnNanoModal, run_id: str) -> str:
    return cluster.run("airflow", "dags", "state", DAG_ID, run_id).stdout.strip().splitlines()[-1]


def test_airflow_tasks_run_in_nano_modal_containers(airflow: AirflowOnNanoModal) -> None:
    check_dag_run(airflow, "nano-modal-test")


def check_dag_run(airflow: AirflowOnNanoModal, run_id: str) -> list[str]:
    """Triggers the example DAG and checks its run: states, XComs, logs; returns the ids of the
    containers its three chained tasks ran in. Also integrations/modalflow's."""
    airflow.run("airflow", "dags", "trigger", DAG_ID, "--run-id", run_id)
    finished = wait_for(lambda: _run_state(airflow, run_id) in ("success", "failed"), RUN_TIMEOUT, interval=2)
    assert finished, (airflow.home / "scheduler.log").read_text()[-5000:]

    listed = airflow.run("airflow", "tasks", "states-for-dag-run", DAG_ID, run_id, "--output", "json").stdout
    states = {row["task_id"]: row["state"] for row in json.loads(listed[listed.index("[") :])}
    expected = {"where": "success", "shout": "success", "report": "success", "boom": "failed"}
    assert states == expected, (airflow.home / "scheduler.log").read_text()[-5000:]
    assert _run_state(airflow, run_id) == "failed"  # one task failed

    # Each task ran in a nano-modal container (Modal's entrypoint set MODAL_TASK_ID to its id; a
    # task after another may reuse its warm container, as on Modal), and the XComs went from task
    # to task: `report` was handed where's and shout's ids.
    script = f"import json, modal; print(json.dumps(dict(modal.Dict.from_name({RESULTS_DICT!r}).items())))"
    recorded = json.loads(airflow.run("python", "-c", script).stdout.strip().splitlines()[-1])
    containers = [recorded["where"], recorded["shout"], recorded["report"]]
    assert all(c.startswith("ta-") for c in containers), recorded
    assert recorded["chain"] == " -> ".join(containers), recorded
    # modalflow copied each task's log from its container next to Airflow's own...
    logs = airflow.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    for task_id, container in zip(("where", "shout", "report"), containers, strict=True):
        assert f"ran in {container}" in (logs / f"task_id={task_id}" / "attempt=1.log").read_text()
    assert "this task fails on purpose" in (logs / "task_id=boom" / "attempt=1.log").read_text()
    # ...and nano-modal's own logs of modalflow's app name every task's container.
    app_logs = subprocess.run(
        [sys.executable, "-m", "nano_modal", "app", "logs", "modalflow-main", "--lines", "5000"],
        env=airflow.nano_modal_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert app_logs.returncode == 0, app_logs.stderr
    for container in containers:
        assert container in app_logs.stdout, (container, app_logs.stdout[-3000:])
    return containers
