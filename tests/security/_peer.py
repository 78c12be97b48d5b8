"""A TCP peer in a network namespace the test creates itself (ip netns + veth): the only
address outside loopback a test sends traffic to. The host's side of the veth gets an address
of its own, where the test listens too: one of "the host's own addresses"."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# TEST-NET-3 (RFC 5737): documentation addresses, public as far as the policy is concerned,
# and a private pair (RFC 1918) the policy denies unless --allow-net says otherwise.
PUBLIC_HOST, PUBLIC_PEER = "203.0.113.1", "203.0.113.2"
# TEST-NET-2 for web_site(): its own pair, so that it never shares a route with peer_namespace().
SITE_HOST, SITE_PEER = "198.51.100.1", "198.51.100.2"
PRIVATE_HOST, PRIVATE_PEER = "10.254.77.1", "10.254.77.2"
PRIVATE_NET = "10.254.77.0/30"
PORT = 18080

LISTEN = r"""
import json, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
while True:
    conn, peer = s.accept()
    print(json.dumps([conn.getsockname()[0], peer[0]]), flush=True)
    conn.close()
"""


@dataclass
class Peer:
    namespace: str
    proc: subprocess.Popen[str]
    seen: list[tuple[str, str]] = field(default_factory=list)  # (address dialed, from)
    host_seen: list[tuple[str, int]] = field(default_factory=list)  # at the host's own veth address
    host_listener: socket.socket = field(default_factory=socket.socket)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            local, remote = json.loads(line)
            self.seen.append((local, remote))

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.host_listener.accept()
            except OSError:
                return
            self.host_seen.append(peer)
            conn.close()

    def reached(self, address: str) -> list[tuple[str, str]]:
        return [s for s in self.seen if s[0] == address]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _remove_stale_namespaces() -> None:
    """Namespaces of this module with no process left in them: a test run killed before its
    cleanup left them, and their veth still holds the addresses every run uses (the next run's
    bind failed with EADDRINUSE). One run at a time owns these names (CI runs one)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in (line.split()[0] for line in listing.splitlines() if line.startswith("nmsec")):
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
        if not pids.strip():
            subprocess.run(["ip", "link", "del", f"{name}h"], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextmanager
def _veth_namespace(
    pairs: tuple[tuple[str, str], ...] = ((PUBLIC_HOST, PUBLIC_PEER), (PRIVATE_HOST, PRIVATE_PEER)),
) -> Iterator[tuple[str, str]]:
    """A network namespace joined to the host by a veth pair with these (host, peer) address
    pairs, each a /30; yields (namespace, the host's interface)."""
    _remove_stale_namespaces()
    name = f"nmsec{secrets.token_hex(3)}"
    host_if, peer_if = f"{name}h", f"{name}p"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", name)
        for host_addr, peer_addr in pairs:
            _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
            _ip("-n", name, "addr", "add", f"{peer_addr}/30", "dev", peer_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "link", "set", peer_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield name, host_if
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextmanager
def peer_namespace() -> Iterator[Peer]:
    with _veth_namespace() as (name, _):
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", LISTEN, str(PORT)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
        peer = Peer(name, proc)
        threading.Thread(target=peer._read, daemon=True).start()
        # (a connection of an earlier session may still hold the address in TIME_WAIT)
        peer.host_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        peer.host_listener.bind((PUBLIC_HOST, PORT))
        peer.host_listener.listen(16)
        threading.Thread(target=peer._accept, daemon=True).start()
        try:
            yield peer
        finally:
            peer.host_listener.close()
            proc.kill()
            proc.wait()


@contextmanager
def web_site(root: Path) -> Iterator[str]:
    """`root` served over HTTP from a public-looking address in a namespace of the test's own:
    "the internet" for examples that fetch a page (this machine has none). Yields its URL."""
    with _veth_namespace(((SITE_HOST, SITE_PEER),)) as (name, _):
        proc = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-m", "http.server", str(PORT),
             "--bind", SITE_PEER, "--directory", str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://{SITE_PEER}:{PORT}/"
            _wait_for_listener(name, proc)
            yield url
        finally:
            proc.kill()
            proc.wait()


def _wait_for_listener(namespace: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the web site's server exited"
        probe = subprocess.run(["ip", "netns", "exec", namespace, "ss", "-ltnH"], capture_output=True, text=True)
        if f"{SITE_PEER}:{PORT}" in probe.stdout:
            return
        time.sleep(0.1)
    raise TimeoutError("the web site's server did not start listening")
