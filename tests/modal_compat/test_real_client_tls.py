"""The real `modal` client from another machine: with the operator's certificate
(`nano-modal server --tls-cert --tls-key`) the server serves its gRPC services over TLS too
(--grpc-tls-port) and hands out the task command router's URL as https. Modal's client accepts
a plain-http router only when MODAL_SERVER_URL is localhost, so before this a remote client
could not exec into a sandbox. Here the client dials the machine's non-loopback address."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nano_modal.server import banner
from tests.conftest import start_server, start_worker, stop
from tests.modal_compat.conftest import _python, make_modal_venv

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; `modal run` starts an app")

BANNER_TIMEOUT = 60  # seconds for the server's banner to name its TLS port on a loaded machine

SANDBOX = """
import modal

app = modal.App.lookup("nano-compat-tls-sandbox", create_if_missing=True)
sb = modal.Sandbox.create("sleep", "300", app=app)
p = sb.exec("echo", "hi")
print("exec:", p.stdout.read().strip(), p.wait())
sb.terminate()
"""

APP = """
import modal

app = modal.App("nano-compat-tls-run")


@app.function()
def square(x):
    return x * x


@app.local_entrypoint()
def main():
    print("remote:", square.remote(7))
"""

# grpclib (the client's control channel) trusts certifi's bundle, not SSL_CERT_FILE: this
# stands in for an operator adding their CA to it (a public CA's certificate needs nothing).
CERTIFI_SHIM = """
import os


def where():
    return os.environ["SSL_CERT_FILE"]
"""


def _self_signed(directory: Path, address: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    # The router's URL names the server's shown host (for 0.0.0.0, the machine's name).
    names = [x509.IPAddress(ipaddress.ip_address(address)), x509.DNSName(socket.gethostname())]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "grpc.pem", directory / "grpc.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class RemoteClient:
    venv: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]], cwd=cwd, env=self.env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip


def _tls_port(log: Path, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + BANNER_TIMEOUT
    while server.poll() is None and time.monotonic() < deadline:
        found = re.search(r"grpc over tls: \S+:(\d+)", log.read_text())
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise RuntimeError("the server named no TLS port: " + log.read_text())


@pytest.fixture(scope="module")
def remote_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteClient]:
    address = banner.primary_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to reach the server at")
    venv = make_modal_venv()
    if isinstance(venv, str):
        pytest.skip(venv)
    python = str(_python(venv))
    state_dir = tmp_path_factory.mktemp("modal-tls-server")
    cert, key = _self_signed(state_dir, address)
    token = secrets.token_urlsafe(16)
    server, url = start_server(
        state_dir, token, "--host", "0.0.0.0", "--http-port", "0", "--https-port", "0",
        "--tls-cert", str(cert), "--tls-key", str(key), python=python,
    )  # fmt: skip
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process", python=python)
    try:
        tls_port = _tls_port(state_dir / "server.log", server)
        shim = state_dir / "trust"
        (shim / "certifi").mkdir(parents=True)
        (shim / "certifi" / "__init__.py").write_text(CERTIFI_SHIM)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NANO_MODAL_", "MODAL_"))}
        env.update(
            {
                "MODAL_SERVER_URL": f"https://{address}:{tls_port}",
                "MODAL_TOKEN_ID": "nm",
                "MODAL_TOKEN_SECRET": token,
                "MODAL_CONFIG_PATH": str(state_dir / "modal.toml"),
                "SSL_CERT_FILE": str(cert),
                "PYTHONPATH": str(shim),
            }
        )
        yield RemoteClient(venv, env)
    finally:
        stop(worker)
        stop(server)


def test_a_remote_client_execs_into_a_sandbox_over_tls(remote_client: RemoteClient, tmp_path: Path) -> None:
    (tmp_path / "sandbox.py").write_text(SANDBOX)
    done = remote_client.run("python", "sandbox.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exec: hi 0" in done.stdout, done.stdout + done.stderr


def test_a_remote_client_runs_an_app_over_tls(remote_client: RemoteClient, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    done = remote_client.run("modal", "run", "app.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "remote: 49" in done.stdout, done.stdout + done.stderr
