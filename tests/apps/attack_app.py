"""Functions that behave like an attacker inside a container; tests/worker/ runs them sandboxed.

Each returns what it managed to do (never raises for a failed attempt), so the tests can
assert precisely on the outcome: "denied: OSError(30)" is a pass, anything it read or
reached is a finding.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import socket
import subprocess
import sys
from typing import Any

import nano_modal

app = nano_modal.App("attack-tests")
vol = nano_modal.Volume.from_name("runtime-tests", create_if_missing=True)

TOKEN_LIKE = re.compile(rb"[A-Za-z0-9_\-]{16,}")


def _read(path: str, size: int = -1) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return None


def _try(action: Any) -> str:
    try:
        return f"ok: {action()!r}"[:300]
    except Exception as exc:
        return f"denied: {type(exc).__name__}({getattr(exc, 'errno', '')})"


@app.function()
def read_files(paths: list[str]) -> dict[str, str]:
    def read(path: str) -> Any:
        if os.path.isdir(path):
            return os.listdir(path)
        with open(path, "rb") as f:
            return f.read(64)

    return {path: _try(lambda path=path: read(path)) for path in paths}


@app.function()
def visible_processes() -> list[str]:
    """The command lines of every process this container can see."""
    cmdlines = (_read(f"/proc/{pid}/cmdline") for pid in os.listdir("/proc") if pid.isdigit())
    return [c.replace(b"\0", b" ").decode().strip() for c in cmdlines if c is not None]


@app.function()
def write_outside(paths: list[str]) -> dict[str, str]:
    return {path: _try(lambda path=path: open(path, "w").write("pwned")) for path in paths}


@app.function()
def escape_attempts() -> dict[str, Any]:
    libc = ctypes.CDLL(None, use_errno=True)

    def call(fn: Any, *args: Any) -> str:
        ctypes.set_errno(0)
        result = fn(*args)
        return "succeeded" if result != -1 else f"failed: {errno.errorcode.get(ctypes.get_errno(), '?')}"

    unshare = subprocess.run(["unshare", "-r", "true"], capture_output=True, text=True)
    clone_newuser = 0x10000000 | 17  # CLONE_NEWUSER | SIGCHLD; a child would _exit at once
    net_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    return {
        "unshare_cmd": unshare.returncode,
        "unshare": call(libc.unshare, 0x10000000),
        "mount": call(libc.mount, b"none", b"/tmp", b"tmpfs", 0, None),
        "umount": call(libc.umount2, b"/proc", 2),
        "ptrace_attach_1": call(libc.ptrace, 16, 1, 0, 0),  # PTRACE_ATTACH to the sandbox's init
        "ptrace_traceme": call(libc.ptrace, 0, 0, 0, 0),
        "clone_newuser": call(libc.syscall, 56, clone_newuser, 0, 0, 0, 0) if os.uname().machine == "x86_64" else "-",
        "setns": call(libc.setns, net_ns, 0),
        "bpf": call(libc.syscall, 321, 0, 0, 0) if os.uname().machine == "x86_64" else "-",
        "capabilities": [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")],
        "no_new_privs": [line.split()[1] for line in open("/proc/self/status") if line.startswith("NoNewPrivs")],
        "uid": os.getuid(),
    }


@app.function()
def find_admin_token(admin_sha256: str, extra_paths: list[str]) -> dict[str, Any]:
    """Look for the admin token everywhere a container could: every visible environment, config files."""
    sources: dict[str, bytes] = {"own environ": b"\n".join(f"{k}={v}".encode() for k, v in os.environ.items())}
    home = os.path.expanduser("~")
    paths = [f"/proc/{pid}/environ" for pid in os.listdir("/proc") if pid.isdigit()]
    paths += [*extra_paths, f"{home}/.nano-modal/config.toml", "/root/.nano-modal/config.toml"]
    for path in paths:
        data = _read(path)
        if data is not None:
            sources[path] = data
    hits = [
        name
        for name, data in sources.items()
        if any(hashlib.sha256(m).hexdigest() == admin_sha256 for m in TOKEN_LIKE.findall(data))
    ]
    return {"token_in_env": os.environ.get("NANO_MODAL_TOKEN", ""), "admin_token_found_in": hits}


def _connect(host: str, port: int) -> str:
    return _try(lambda: socket.create_connection((host, port), timeout=2).close())


@app.function()
def reach_host(port: int) -> dict[str, Any]:
    """Dial a TCP port on the host's loopback (the server's own port)."""
    return {"tcp": _connect("127.0.0.1", port), "interfaces": [name for _, name in socket.if_nameindex()]}


@app.function(block_network=True)
def reach_host_blocked(port: int) -> dict[str, Any]:
    return {"tcp": _connect("127.0.0.1", port), "interfaces": [name for _, name in socket.if_nameindex()]}


@app.function(memory=64)
def hog_memory(mib: int) -> int:
    chunks = [bytearray(1024 * 1024) for _ in range(mib)]  # touched: bytearray zero-fills
    return len(chunks)


_FORK_LOOP = """
import errno, os, sys, time
count, deadline = 0, time.monotonic() + float(sys.argv[1])
try:
    while time.monotonic() < deadline:
        if os.fork() == 0:
            time.sleep(float(sys.argv[1]))
            os._exit(0)
        count += 1
    print(count, "none")
except OSError as exc:
    print(count, errno.errorcode.get(exc.errno, str(exc)))
"""


@app.function(memory=1024)
def fork_bomb(seconds: float = 20.0) -> dict[str, Any]:
    """Fork until the kernel refuses; the children sleep, then leave. A bare interpreter forks
    faster than this one, which carries gRPC's threads and memory."""
    proc = subprocess.run([sys.executable, "-S", "-c", _FORK_LOOP, str(seconds)], capture_output=True, text=True)
    count, error = proc.stdout.split() if proc.returncode == 0 else ("-1", proc.stderr[-300:])
    return {"forks": int(count), "error": None if error == "none" else error}


@app.function()
def ping() -> str:
    return "pong"


@app.function()
def fast_lane_hello() -> str:
    """Who the server's fast lane says this container is, over the way the container's SDK
    finds it (beside its relayed server socket when it has no route to the server)."""
    from nano_modal import _fast_lane, config
    from nano_modal.proto import api_pb2

    address = _fast_lane.address(os.environ[config.ENV_SERVER_URL], 1)
    if address is None:
        return "no fast lane"
    lane = _fast_lane.BlockingFastLane(address, os.environ[config.ENV_TOKEN])
    return str(lane.call("Hello", api_pb2.HelloRequest(), 30).role)


@app.function()
def workspace() -> dict[str, Any]:
    """What an honest function needs: a writable cwd, HOME and /tmp, and the SDK importable."""
    written = {}
    for place in (os.getcwd(), os.path.expanduser("~"), "/tmp"):
        path = os.path.join(place, "scratch.txt")
        with open(path, "w") as f:
            f.write(place)
        written[place] = _read(path) == place.encode()
    return {"written": written, "uid": os.getuid(), "python": sys.version_info[:2]}


@app.function()
def make_bytes(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest() * (n // 32)


@app.function(block_network=True)
def make_bytes_blocked(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest() * (n // 32)


@app.function(volumes={"/data": vol})
def volume_write(content: str) -> list[str]:
    with open("/data/hello.txt", "w") as f:
        f.write(content)
    vol.commit()
    return os.listdir("/data")


@app.function(volumes={"/data": vol})
def volume_read() -> str | None:
    vol.reload()
    data = _read("/data/hello.txt")
    return None if data is None else data.decode()
