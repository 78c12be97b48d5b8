"""With the operator's certificate (`nano-modal server --tls-cert --tls-key`), the gateway also
serves HTTPS and clients are given https:// URLs: a web endpoint's and a tunnel's
(`modal.forward`), each reached with the certificate verified. A certificate that cannot be
read stops the start with one line."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Cluster, start_server, start_worker, stop
from tests.helpers import run_script

APP = """
import time

import httpx
import nano_modal as modal

app = modal.App("tls-gateway")


@app.function()
@modal.fastapi_endpoint()
def hello() -> dict:
    return {"hello": "over tls"}


@app.function(timeout=120)
def serve_a_port(urls: modal.Queue) -> None:
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the container's port")

    server = http.server.HTTPServer(("127.0.0.1", 8765), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with modal.forward(8765) as tunnel:
        urls.put(tunnel.url)
        time.sleep(60)


if __name__ == "__main__":
    import sys

    cert = sys.argv[1]
    with app.run(), modal.Queue.ephemeral() as urls:
        url = hello.get_web_url()
        print("endpoint", url, httpx.get(url, verify=cert, timeout=60).json())
        call = serve_a_port.spawn(urls)
        tunnel = urls.get(timeout=60)
        print("tunnel", tunnel, httpx.get(tunnel, verify=cert, timeout=60).text)
        call.cancel()
"""


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "gateway.pem", directory / "gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    state_dir = tmp_path_factory.mktemp("tls-server")
    cert, key = _self_signed(state_dir)
    token = secrets.token_urlsafe(16)
    extra = ("--http-port", "0", "--tls-cert", str(cert), "--tls-key", str(key), "--https-port", "0")
    server, url = start_server(state_dir, token, *extra)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
    try:
        yield Cluster(url, token, state_dir, server, [worker]), cert
    finally:
        stop(worker)
        stop(server)


def test_endpoints_and_tunnels_are_given_and_served_over_https(
    tls_cluster: tuple[Cluster, Path], tmp_path: Path
) -> None:
    cluster, cert = tls_cluster
    done = run_script(tmp_path, APP, str(cert), env=cluster.env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    endpoint = next(line for line in done.stdout.splitlines() if line.startswith("endpoint "))
    tunnel = next(line for line in done.stdout.splitlines() if line.startswith("tunnel "))
    assert endpoint.startswith("endpoint https://127.0.0.1:") and "{'hello': 'over tls'}" in endpoint, endpoint
    assert tunnel.startswith("tunnel https://127.0.0.1:") and tunnel.endswith("from the container's port"), tunnel
    # The HTTPS port speaks only TLS: plain HTTP to it gets no answer from the app.
    https_base = endpoint.split()[1].split("/tls-gateway")[0]
    with pytest.raises(httpx.HTTPError):
        httpx.get(https_base.replace("https://", "http://") + "/_/", timeout=10)
    # Without the certificate trusted, a client refuses the connection (it is verified).
    with pytest.raises(httpx.ConnectError):
        httpx.get(https_base + "/_/", timeout=10)


def test_a_certificate_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    done = subprocess.run(
        [sys.executable, "-m", "nano_modal.server", "--state-dir", str(tmp_path), "--port", "0",
         "--tls-cert", str(missing), "--tls-key", str(missing)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"cannot read {missing}" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_grpc_tls_port_without_a_certificate_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nano_modal.server", "--state-dir", str(tmp_path), "--port", "0",
         "--grpc-tls-port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "--grpc-tls-port need --tls-cert and --tls-key" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
