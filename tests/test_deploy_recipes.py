"""deploy/: the systemd units and the Compose file parse, and their command lines are real ones."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nano_modal.server.main import build_parser as server_parser
from nano_modal.worker.main import build_parser as worker_parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = ["nano-modal-server.service", "nano-modal-worker@.service"]


def _exec_start(unit: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(DEPLOY / "systemd" / unit)
    return shlex.split(parser["Service"]["ExecStart"])


def _parse(argv: list[str]) -> None:
    """`nano-modal server|worker ...` as the CLI would parse it (SystemExit on a bad option)."""
    command, *args = argv
    {"server": server_parser, "worker": worker_parser}[command]().parse_args(args)


@pytest.mark.parametrize("unit", UNITS)
def test_unit_command_lines_parse(unit: str) -> None:
    argv = _exec_start(unit)
    assert argv[0] == "/usr/local/bin/nano-modal"
    _parse(argv[1:])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", UNITS)
def test_units_verify(unit: str, tmp_path: Path) -> None:
    installed = shutil.which("nano-modal")
    assert installed, "the nano-modal command is not installed (pip install -e .)"
    # verify checks that ExecStart exists: point it at this machine's nano-modal.
    text = (DEPLOY / "systemd" / unit).read_text().replace("/usr/local/bin/nano-modal", installed)
    path = tmp_path / unit.replace("@.", "@1.")
    path.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_compose_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "server", "server-b", "worker"}
    server, worker = services["server"], services["worker"]
    _parse(server["command"])
    _parse(services["server-b"]["command"])
    assert services["server-b"]["environment"]["NANO_MODAL_STORE"] == server["environment"]["NANO_MODAL_STORE"]
    assert worker["environment"]["NANO_MODAL_SERVER_URL"] == "server:50051,server-b:50051"
    _parse(worker["command"])
    assert server["environment"]["NANO_MODAL_STORE"].startswith("postgresql://")
    assert server["environment"]["NANO_MODAL_QUEUE"] == "redis://redis:6379/0"
    assert server_parser().parse_args(["--queue", server["environment"]["NANO_MODAL_QUEUE"]]).queue
    assert "--appendonly" in services["redis"]["command"]  # acknowledged queue items are on disk
    assert "50051:50051" in server["ports"]
    # Replicas would share one --advertise address: each further server is a service of its own.
    assert "deploy" not in server or server["deploy"].get("replicas", 1) == 1
    assert (DEPLOY / server["build"]["dockerfile"].removeprefix("deploy/")).exists()


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="docker compose is not installed",
)
def test_compose_config() -> None:
    env = {"NANO_MODAL_TOKEN": "test", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"], env=env, capture_output=True
    )
    assert result.returncode == 0, result.stderr
