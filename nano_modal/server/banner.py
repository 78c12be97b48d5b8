"""What `nano-modal server` tells the person who started it: addresses clients can dial (never
0.0.0.0), the web endpoints' and dashboard's port, and how to sign in to the dashboard."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

ANY_ADDRESS = ("0.0.0.0", "::", "")


def reachable_hosts(host: str) -> list[str]:
    """Hosts at which clients reach a server bound to `host`, best first: for a wildcard bind the
    machine's name, its primary address and loopback; otherwise `host` itself."""
    if host not in ANY_ADDRESS:
        return [host]
    hosts = [socket.gethostname()]
    primary = primary_address()
    if primary is not None:
        hosts.append(primary)
    hosts.append("::1" if host == "::" else "127.0.0.1")
    return list(dict.fromkeys(hosts))


def primary_address() -> str | None:
    """The address this machine's default route leaves from (connecting a UDP socket sends nothing),
    or None without a route."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, only looked up
        address: str = probe.getsockname()[0]
        return None if address.startswith("127.") or address == "0.0.0.0" else address
    return None


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def lines(host: str, port: int, web_port: int, state_dir: Path, token_from_env: bool) -> list[str]:
    """The start-up banner (the token itself is printed separately, and only on a terminal)."""
    hosts = reachable_hosts(host)
    first = hosts[0]
    web = f"http://{_hostport(first, web_port)}"
    token_source = "$NANO_MODAL_TOKEN" if token_from_env else str(state_dir / "admin_token")
    out = [f"nano-modal server listening on {', '.join(_hostport(h, port) for h in hosts)} (state in {state_dir})"]
    out.append(f"  clients:       nano-modal token set --server {_hostport(first, port)} --token <admin token>")
    out.append(f"  web endpoints: {web}/<app>/<function>/  (HTTP port {web_port})")
    out.append(f"  dashboard:     {web}/_/  (sign in with the admin token, in {token_source})")
    return out
