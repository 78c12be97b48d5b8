"""Real OCI images for the tests, built from scratch: layers, config and manifests with true digests.

`make_image()` gives a tiny busybox image in three layers (the second with whiteouts, the third
uncompressed); it can be written as an OCI layout, a `docker save` tarball, or pushed to a registry
(`Registry`: Debian's `docker-registry`, the CNCF Distribution registry, on a free loopback port).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import platform
import shutil
import ssl
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import free_port

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
BUSYBOX = shutil.which("busybox")
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# A layer entry: (name, kind, payload) with kind "file" (payload bytes), "dir", "symlink"/"hardlink"
# (payload: target), or "raw" (payload: a prepared TarInfo's extra fields as a dict).
Entry = tuple[str, str, Any]


def make_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                info.size, info.mode = len(payload), 0o755 if name.startswith("bin/") else 0o644
                tar.addfile(info, io.BytesIO(payload))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "chardev":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            tar.addfile(info)
    return buf.getvalue()


@dataclass
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return digest(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data), **extra}


@dataclass
class Image:
    config: Blob
    layers: list[Blob]
    layer_tars: list[bytes]  # the uncompressed layers (what `docker save` stores)
    manifest: Blob = field(init=False)

    def __post_init__(self) -> None:
        doc = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": self.config.descriptor(),
            "layers": [layer.descriptor() for layer in self.layers],
        }
        self.manifest = Blob(json.dumps(doc).encode(), MT_MANIFEST)

    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


def make_image(
    layers: list[list[Entry]] | None = None, *, env: list[str] | None = None, arch: str = HOST_ARCH
) -> Image:
    """Three layers by default: busybox + files; whiteouts (file and opaque dir); one plain tar."""
    if layers is None:
        busybox = Path(BUSYBOX).read_bytes() if BUSYBOX else b"#!/bin/false\n"
        layers = [
            [
                ("bin/", "dir", None),
                ("bin/busybox", "file", busybox),
                ("bin/sh", "symlink", "busybox"),
                ("etc/", "dir", None),
                ("etc/hello.txt", "file", b"hello from layer 1\n"),
                ("etc/gone.txt", "file", b"deleted by layer 2\n"),
                ("etc/hello-link", "hardlink", "etc/hello.txt"),
                ("opaque/", "dir", None),
                ("opaque/old.txt", "file", b"hidden by the opaque whiteout\n"),
                ("dev/", "dir", None),
                ("dev/null", "chardev", None),
            ],
            [
                ("etc/.wh.gone.txt", "file", b""),
                ("opaque/.wh..wh..opq", "file", b""),
                ("opaque/new.txt", "file", b"layer 2\n"),
            ],
            [("etc/hello.txt", "file", b"hello from layer 3\n")],
        ]
    tars = [make_tar(entries) for entries in layers]
    blobs = [
        Blob(tar, MT_LAYER_TAR) if i == len(tars) - 1 else Blob(gzip.compress(tar, mtime=0), MT_LAYER_GZIP)
        for i, tar in enumerate(tars)
    ]
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": env or ["PATH=/bin", "GREETING=hi"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo $GREETING"],
            "WorkingDir": "/work",
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]},
    }
    return Image(Blob(json.dumps(config).encode(), MT_CONFIG), blobs, tars)


def write_oci_layout(image: Image, root: Path, tag: str = "latest") -> Path:
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    for blob in [*image.blobs(), image.manifest]:
        (root / "blobs" / "sha256" / blob.digest.split(":")[1]).write_bytes(blob.data)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [image.manifest.descriptor(annotations={"org.opencontainers.image.ref.name": tag})],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root


def write_docker_archive(image: Image, path: Path, repo_tag: str = "test/img:latest") -> Path:
    """The layout `docker save` writes: manifest.json, <id>.json config, <n>/layer.tar."""
    config_name = image.config.digest.split(":")[1] + ".json"
    files = {config_name: image.config.data}
    layer_names = []
    for i, tar in enumerate(image.layer_tars):
        layer_names.append(f"layer{i}/layer.tar")
        files[layer_names[-1]] = tar
    files["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    ).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path




@dataclass
class Registry:
    """A running `docker-registry` on loopback; `push()` uploads with plain registry API calls."""

    process: subprocess.Popen[bytes]
    port: int
    root: Path  # config, log and storage
    token: str | None = None  # a Bearer token with push rights, when the registry wants one
    ca: Path | None = None  # with TLS: the CA that signed its certificate

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://{self.host}"

    def http(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=self.ca) if self.ca else True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, workdir: Path, auth: dict[str, Any] | None = None, tls: bool = False) -> Registry:
        port = free_port()
        config = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": f"127.0.0.1:{port}"},
            **({"auth": auth} if auth else {}),
        }
        ca = make_tls_files(workdir) if tls else None
        if ca:
            config["http"]["tls"] = {"certificate": str(workdir / "server.pem"), "key": str(workdir / "server.key")}
        (workdir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        log = (workdir / "registry.log").open("ab")
        process = subprocess.Popen(["docker-registry", "serve", str(workdir / "config.yml")], stdout=log, stderr=log)
        registry = cls(process, port, workdir, ca=ca)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(workdir / 'registry.log').read_text()[-2000:]}")
            try:
                with registry.http() as client:
                    client.get(f"{registry.url}/v2/", timeout=1)
                return registry
            except httpx.TransportError:
                time.sleep(0.05)
        process.kill()
        raise RuntimeError("docker-registry did not start in 20 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def put_blob(self, name: str, data: bytes) -> None:
        """Monolithic upload: POST to open an upload, PUT the bytes with their digest."""
        with self.http() as client:
            r = client.post(f"{self.url}/v2/{name}/blobs/uploads/", headers=self.headers())
            assert r.status_code == 202, r.text
            location = r.headers["location"]
            url = location if location.startswith("http") else self.url + location
            sep = "&" if "?" in url else "?"
            r = client.put(
                f"{url}{sep}digest={digest(data)}",
                content=data,
                headers={**self.headers(), "Content-Type": "application/octet-stream"},
            )
        assert r.status_code == 201, r.text

    def put_manifest(self, name: str, reference: str, manifest: Blob) -> None:
        with self.http() as client:
            r = client.put(
                f"{self.url}/v2/{name}/manifests/{reference}",
                content=manifest.data,
                headers={**self.headers(), "Content-Type": manifest.media_type},
            )
        assert r.status_code == 201, r.text

    def push(self, image: Image, name: str, tag: str) -> None:
        for blob in image.blobs():
            self.put_blob(name, blob.data)
        self.put_manifest(name, tag, image.manifest)


def make_tls_files(workdir: Path) -> Path:
    """A test CA (ca.pem) and a server certificate for 127.0.0.1 and localhost signed by it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("nano-modal test CA", ca_key, "nano-modal test CA", ca_key, ca=True)
    server_cert = cert("127.0.0.1", server_key, "nano-modal test CA", ca_key, ca=False)
    (workdir / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (workdir / "server.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (workdir / "server.key").write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return workdir / "ca.pem"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TokenServer:
    """A Docker token server (the `realm` of a Bearer challenge) for `docker-registry`'s token auth.

    It hands any requested scope to `user:password` (Basic auth), as a JWT signed with ES256 by a
    self-signed certificate that the registry trusts (`rootcertbundle`), the chain in the `x5c` header.
    """

    def __init__(self, workdir: Path, user: str, password: str, service: str = "test-registry") -> None:
        import datetime
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlparse

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nano-modal test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_file = workdir / "token-cert.pem"
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.service, self.issuer = service, "nano-modal-test-issuer"
        self.expected = basic(user, password)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Authorization") != server.expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                query = parse_qs(urlparse(self.path).query)
                body = json.dumps({"token": server.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def registry_auth(self) -> dict[str, Any]:
        """The `auth:` section of a registry config that trusts this server."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.cert_file),
            }
        }

    def token(self, scopes: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        access = []
        for scope in scopes:
            for one in scope.split(" "):
                kind, name, actions = one.split(":")[0], ":".join(one.split(":")[1:-1]), one.split(":")[-1]
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "test",
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 60,
            "iat": now,
            "jti": str(now) + str(id(access)),
            "access": access,
        }

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# --- an image with a Python, made from the host's Debian python3 -----------------------------------

HOST_PYTHON = Path("/usr/bin/python3.11")  # Debian bookworm's python3 (dpkg), not the test's own Python
STDLIB_SKIP = {"__pycache__", "test", "idlelib", "tkinter", "ensurepip", "lib2to3", "pydoc_data", "turtledemo"}
BUSYBOX_APPLETS = ["sh", "ls", "cat", "env", "echo", "mkdir", "rm", "cp", "mv", "ln", "test", "true", "id"]


def shared_libraries(elves: list[Path]) -> set[Path]:
    """The libraries `ldd` says these ELF files load (including the dynamic loader)."""
    libs: set[Path] = set()
    for elf in elves:
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            words = line.split()
            path = words[2] if len(words) >= 3 and words[1] == "=>" else words[0] if words else ""
            if path.startswith("/"):
                libs.add(Path(path))
    return libs


def in_image(path: Path) -> str:
    """Where a host file goes in a merged-/usr image (/lib/x -> usr/lib/x), without the leading /."""
    text = str(path)
    return text[1:] if text.startswith("/usr/") else "usr" + text


def make_python_image(extra_elves: list[Path] = (), env: list[str] | None = None) -> Image:  # type: ignore[assignment]
    """A Debian-like image whose python3 and libraries are copied from the host's Debian packages.

    Two layers: busybox (as /bin/sh and a few tools) with the shared libraries, then Python's stdlib
    (uncompressed: it is the big one). `extra_elves`: more ELF files whose libraries it must have.
    """
    stdlib = Path("/usr/lib/python3.11")
    elves = [HOST_PYTHON, *stdlib.glob("lib-dynload/*.so"), *extra_elves]
    base = io.BytesIO()
    with tarfile.open(fileobj=base, mode="w") as tar:
        for name in ["bin", "lib", "lib64", "sbin"]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, f"usr/{name}"
            tar.addfile(info)
        if BUSYBOX:
            tar.add(BUSYBOX, "usr/bin/busybox")
            for applet in BUSYBOX_APPLETS:
                info = tarfile.TarInfo(f"usr/bin/{applet}")
                info.type, info.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(info)
        for lib in sorted(shared_libraries(elves)):
            real = lib.resolve()
            tar.add(real, in_image(real))
            if in_image(lib) != in_image(real):
                info = tarfile.TarInfo(in_image(lib))
                info.type, info.linkname = tarfile.SYMTYPE, "/" + in_image(real)
                tar.addfile(info)
        for d in ["tmp", "root", "etc", "proc", "dev", "sys"]:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
    python = io.BytesIO()
    with tarfile.open(fileobj=python, mode="w") as tar:
        tar.add(HOST_PYTHON, "usr/bin/python3.11")
        for link in ["python3", "python"]:
            info = tarfile.TarInfo(f"usr/bin/{link}")
            info.type, info.linkname = tarfile.SYMTYPE, "python3.11"
            tar.addfile(info)
        tar.add(stdlib, in_image(stdlib), filter=lambda t: None if Path(t.name).name in STDLIB_SKIP else t)
    tars = [base.getvalue(), python.getvalue()]
    config = {
        "architecture": HOST_ARCH,
        "os": "linux",
        "config": {"Env": env or ["PATH=/usr/local/bin:/usr/bin:/bin", "FROM_IMAGE=yes"], "WorkingDir": "/srv"},
        "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]},
    }
    layers = [Blob(gzip.compress(tars[0], compresslevel=1, mtime=0), MT_LAYER_GZIP), Blob(tars[1], MT_LAYER_TAR)]
    return Image(Blob(json.dumps(config).encode(), MT_CONFIG), layers, tars)
