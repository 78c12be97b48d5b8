"""The real `modal` client from PyPI, in a scratch venv, against a real server and worker.

The venv (modal==MODAL_VERSION) is made once and kept across sessions, like built images. It
also sees this interpreter's packages (a .pth file, after its own), so the server and the
worker run from it too: the server imports Modal's protocol from `modal_proto`, and the
worker's containers find `modal` to run Modal's container entrypoint.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import start_server, start_worker, stop

MODAL_VERSION = "1.6.4"
VENV = Path(tempfile.gettempdir()) / f"nano-modal-test-modal-{MODAL_VERSION}"
PIP_TIMEOUT = 600


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def make_scratch_venv(
    venv: Path, requirements: tuple[str, ...], check: str, pip_options: tuple[str, ...] = ()
) -> Path | str:
    """`venv` with `requirements` installed, or why it cannot be made (then the tests skip with
    that reason). Made in place, under a lock (sessions may run side by side): one left half-made
    by an interrupted session fails `check` (Python code that imports what it needs) and is made
    again. Its .pth names this interpreter's packages, written each time, so the venv follows
    whichever interpreter runs the tests. Name `venv` after the versions it holds: a new pin is
    a new venv, never an old one reused. `pip_options`: pip's own flags for the install."""
    python = _python(venv)
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not python.exists() or subprocess.run([python, "-c", check], capture_output=True).returncode:
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            pip = subprocess.run(
                [python, "-m", "pip", "install", "-q", *pip_options, *requirements],
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT,
            )
            if pip.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                return f"cannot pip install {' '.join(requirements)}: {pip.stderr.strip().splitlines()[-1:]}"
        target = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # "zz": read after the venv's own packages, so they keep the versions they were installed with.
        (Path(target) / "zz_nano_modal_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def make_modal_venv() -> Path | str:
    return make_scratch_venv(VENV, (f"modal=={MODAL_VERSION}",), "import modal")


@dataclass
class ModalCluster:
    venv: Path
    server_url: str
    token: str
    state_dir: Path

    def modal_env(self, token_secret: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
        env.update(
            {
                "MODAL_SERVER_URL": f"http://{self.server_url}",
                "MODAL_TOKEN_ID": "nm",
                "MODAL_TOKEN_SECRET": self.token if token_secret is None else token_secret,
                "MODAL_CONFIG_PATH": str(self.state_dir / "modal.toml"),  # not the user's ~/.modal.toml
            }
        )
        return env

    def python(self, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The client venv's Python (e.g. a script calling deployed functions from another process)."""
        return self._run("python", *args, cwd=cwd, timeout=timeout)

    def modal(
        self, *args: str, cwd: Path, token_secret: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return self._run("modal", *args, cwd=cwd, token_secret=token_secret, timeout=timeout)

    def _run(
        self, program: str, *args: str, cwd: Path, token_secret: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / program), *args],
            cwd=cwd,
            env=self.modal_env(token_secret),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextmanager
def bwrap_modal_cluster(state_dir: Path, venv: Path) -> Iterator[ModalCluster]:
    """A server and a bwrap worker from this interpreter (with modal-compat's `modal`, which the
    worker copies into images; bubblewrap would not show a venv's .pth-reached packages), for
    `venv`'s client."""
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "bwrap")
    try:
        yield ModalCluster(venv, url, token, state_dir)
    finally:
        stop(worker)
        stop(server)


@pytest.fixture(scope="session")
def modal_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModalCluster]:
    venv = make_modal_venv()
    if isinstance(venv, str):
        pytest.skip(venv)
    python = str(_python(venv))
    state_dir = tmp_path_factory.mktemp("modal-server")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token, python=python)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process", python=python)
    try:
        yield ModalCluster(venv, url, token, state_dir)
    finally:
        stop(worker)
        stop(server)
