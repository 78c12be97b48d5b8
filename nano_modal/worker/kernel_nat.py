"""Outbound NAT in the kernel: a veth pair per container and the policy as nftables rules.

slirp4netns (network.py) copies every packet through a user-space TCP/IP stack: 0.14-0.28x
the host's throughput on the test machine. Here a container's namespace gets one end of a veth
pair (`eth0`, a /30 of its own); the other end stays in the host's namespace, and the host
forwards and masquerades what comes from it. Where the container may go is decided in the
host's namespace, in a table the worker owns (`inet nano_modal_<block>`), which container root
cannot touch:

- the `input` chain sees every packet from a container addressed to the host itself, whatever
  address the host has now or gains later (the kernel decides "local" per packet): refused,
  unless the operator's `--allow-net` holds the address (as with routes), and but for DNS to
  the host's resolver;
- the `forward` chain sends each container's packets through a chain of its own, rendered
  from its NetworkPolicy (network.py, the one place that decides): the longest prefix wins,
  as it does with routes; nothing is forwarded to a container but replies; IPv6 is dropped;
- `postrouting` masquerades the worker's block.

The worker owns a block of NAT_POOL (a file lock per block under LOCK_DIR, held while it
runs; a table left by a worker that was killed is replaced when its block is claimed again)
and removes its table when it exits. The host must forward IPv4: the worker sets ip_forward=1
when it starts using kernel NAT (docs/SECURITY.md). Where this cannot work (no `nft`, not
root, the host's resolver only on its loopback, which containers cannot reach with
route_localnet=0), containers keep slirp4netns; the worker's log says which and why.

The `nft` command with `nft -f -`: one process applies a whole batch atomically, and the
rules read as the documentation writes them. pyroute2 would save the process but is not
installed with Debian's worker packages, and its nftables support is partial.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .network import NetworkPolicy

log = logging.getLogger("nano_modal.worker")

# Where workers take their blocks from: inside 10.0.0.0/8, which containers may not reach
# anyway (the veths' host ends are in it), and rarely used by hosts (checked: a block that
# overlaps one of the host's routes is skipped).
NAT_POOL = ipaddress.IPv4Network("10.213.0.0/16")
BLOCK_PREFIX = 22  # a worker's block: 256 containers of a /30 each; 64 workers per host
SLOT_PREFIX = 30  # a container's link: the host's end (.1) and the container's (.2)
LOCK_DIR = Path("/run/nano-modal/nat")
INTERFACE = "eth0"  # the container's end of its veth
IF_PREFIX = "nmk"  # the host's ends: nmk<block>-<slot>, at most 15 characters (IFNAMSIZ)
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
RESOLV_CONF = Path("/etc/resolv.conf")
# systemd-resolved's list of the servers it asks: where /etc/resolv.conf names only its stub
# (127.0.0.53, out of containers' reach), containers ask those directly.
UPSTREAM_RESOLV_CONF = Path("/run/systemd/resolve/resolv.conf")
NFT_TIMEOUT = 10.0  # seconds for one nft batch (a few ms as a rule)
# Before the filter chains of the host's own firewall (priority 0): our refusals come first,
# and an accept of ours does not override a drop of theirs (every base chain must accept).
CHAIN_PRIORITY = "filter - 5"
REFUSE = "reject with icmpx type admin-prohibited"  # fails a connection at once, as `prohibit` routes do


@dataclass(frozen=True)
class Slot:
    """One container's link: the host's interface, its address (the container's gateway), the container's."""

    index: int
    host_if: str
    gateway: str
    address: str

    @property
    def chains(self) -> tuple[str, str]:
        return f"c{self.index}", f"h{self.index}"  # forwarded; to the host itself


def resolvers(path: Path = RESOLV_CONF) -> list[ipaddress.IPv4Address]:
    """The host's IPv4 resolvers, as its resolv.conf names them."""
    found = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    found.append(ipaddress.IPv4Address(parts[1]))
    return found


def reachable_resolvers() -> list[ipaddress.IPv4Address]:
    """The host's resolvers a container can be let through to: not on the host's loopback."""
    for path in (RESOLV_CONF, UPSTREAM_RESOLV_CONF):
        found = [r for r in resolvers(path) if not r.is_loopback]
        if found:
            return found
    return []


def unavailable() -> str | None:
    """Why kernel NAT cannot be used on this host (None: it can)."""
    if os.geteuid() != 0:
        return "the worker is not root"
    if shutil.which("nft") is None:
        return "nft is not installed (apt-get install nftables)"
    if not reachable_resolvers():
        return f"the host's resolver is on its loopback ({RESOLV_CONF}), out of containers' reach"
    return None


def _nft(script: str) -> None:
    proc = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=NFT_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"nft: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")


def _host_routes() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    nets = []
    for route in json.loads(out or "[]"):
        with contextlib.suppress(ValueError):
            dst = route.get("dst", "")
            if dst not in ("", "default"):
                nets.append(ipaddress.IPv4Network(dst, strict=False))
    return nets


class KernelNat:
    """The worker's table, block and slots."""

    def __init__(self) -> None:
        self.resolvers = reachable_resolvers()
        self._lock_fd, self.block_index = self._claim_block()
        self.block = list(NAT_POOL.subnets(new_prefix=BLOCK_PREFIX))[self.block_index]
        self.table = f"nano_modal_{self.block_index}"
        self.if_prefix = f"{IF_PREFIX}{self.block_index}-"
        self._slots = list(self.block.subnets(new_prefix=SLOT_PREFIX))
        self._free = list(range(len(self._slots)))
        self._next = 0  # slots are taken round-robin: a link just removed is not named again at once
        self.closed = False
        _nft(self._base_table())
        atexit.register(self.close)
        if IP_FORWARD.read_text().strip() != "1":
            IP_FORWARD.write_text("1\n")
            log.info("kernel NAT: set net.ipv4.ip_forward=1 (containers' packets are forwarded)")

    def _claim_block(self) -> tuple[int, int]:
        LOCK_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        taken = _host_routes()
        for index, block in enumerate(NAT_POOL.subnets(new_prefix=BLOCK_PREFIX)):
            if any(block.overlaps(net) for net in taken if net.prefixlen > 0):
                continue
            fd = os.open(LOCK_DIR / f"block-{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd, index
        raise RuntimeError(f"every block of {NAT_POOL} is taken by another worker or by the host's routes")

    def _base_table(self) -> str:
        """The worker's table. `input` has no shortcut for established connections, unlike
        `forward`: a connection a container opened to an address the host gains afterwards is
        cut when it does (its packets turn from forwarded to local)."""
        t, p, block = self.table, self.if_prefix, self.block
        return f"""
add table inet {t}
delete table inet {t}
table inet {t} {{
    map forwarded {{ type ifname : verdict; }}
    map to_host {{ type ifname : verdict; }}
    chain forward {{
        type filter hook forward priority {CHAIN_PRIORITY}; policy accept;
        oifname "{p}*" ct state established,related accept
        oifname "{p}*" {REFUSE}
        iifname "{p}*" meta nfproto ipv6 drop
        iifname "{p}*" ip saddr != {block} drop
        iifname "{p}*" ct state established accept
        iifname vmap @forwarded
        iifname "{p}*" {REFUSE}
    }}
    chain input {{
        type filter hook input priority {CHAIN_PRIORITY}; policy accept;
        iifname "{p}*" meta nfproto ipv6 drop
        iifname vmap @to_host
        iifname "{p}*" {REFUSE}
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {block} oifname != "{p}*" masquerade
    }}
}}
"""

    def claim(self) -> Slot:
        if not self._free:
            raise RuntimeError(f"no free link in {self.block}: {len(self._slots)} containers have one")
        index = min(self._free, key=lambda i: (i - self._next) % len(self._slots))
        self._free.remove(index)
        self._next = index + 1
        hosts = list(self._slots[index].hosts())
        return Slot(index, f"{self.if_prefix}{index}", str(hosts[0]), str(hosts[1]))

    def admit(self, slot: Slot, policy: NetworkPolicy) -> None:
        """The container's chains, before its link exists: at no moment is it let out unchecked."""
        t, (forwarded, host) = self.table, slot.chains
        lines = [f"add chain inet {t} {chain}\nflush chain inet {t} {chain}" for chain in (forwarded, host)]
        for resolver in self.resolvers:  # DNS, and nothing else, to the host's resolver
            dns = f"ip daddr {resolver} meta l4proto {{ tcp, udp }} th dport 53 accept"
            lines += [f"add rule inet {t} {chain} {dns}" for chain in (forwarded, host)]
        for net, allowed in policy.verdicts():
            lines.append(f"add rule inet {t} {forwarded} ip daddr {net} {'accept' if allowed else REFUSE}")
        lines.append(f"add rule inet {t} {forwarded} accept")
        for net in policy.host_reachable():
            lines.append(f"add rule inet {t} {host} ip daddr {net} accept")
        lines.append(f"add rule inet {t} {host} {REFUSE}")
        lines.append(f'add element inet {t} forwarded {{ "{slot.host_if}" : jump {forwarded} }}')
        lines.append(f'add element inet {t} to_host {{ "{slot.host_if}" : jump {host} }}')
        _nft("\n".join(lines) + "\n")

    def container_lines(self, slot: Slot) -> list[str]:
        """`ip -batch` lines in the container's namespace: its end of the link, and the way out."""
        return [
            f"link add {INTERFACE} type veth peer name {slot.host_if} netns {os.getpid()}",
            f"addr add {slot.address}/{SLOT_PREFIX} dev {INTERFACE}",
            f"link set {INTERFACE} up",
            f"route add default via {slot.gateway} dev {INTERFACE}",
        ]

    def host_lines(self, slot: Slot) -> list[str]:
        """... and in the worker's: the host's end, which lets packets through once it is up."""
        return [f"addr add {slot.gateway}/{SLOT_PREFIX} dev {slot.host_if}", f"link set {slot.host_if} up"]

    def release(self, slot: Slot) -> None:
        """The container's link and chains gone, its slot free again."""
        if self.closed:
            return
        subprocess.run(["ip", "link", "del", slot.host_if], capture_output=True)  # (gone with its namespace, as a rule)
        t, (forwarded, host) = self.table, slot.chains
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            _nft(
                f'delete element inet {t} forwarded {{ "{slot.host_if}" }}\n'
                f'delete element inet {t} to_host {{ "{slot.host_if}" }}\n'
                f"delete chain inet {t} {forwarded}\ndelete chain inet {t} {host}\n"
            )
        self._free.append(slot.index)

    def close(self) -> None:
        """The table gone and the block given back (at the worker's exit)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError, OSError, subprocess.TimeoutExpired):
            _nft(f"delete table inet {self.table}\n")
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


@cache
def shared() -> KernelNat | None:
    """The worker's kernel NAT, made at first use; None (and one line saying why) if containers
    get slirp4netns instead."""
    reason = unavailable()
    if reason is None:
        try:
            nat = KernelNat()
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            reason = str(exc)
        else:
            log.info("outbound network: kernel NAT (veth + nftables table inet %s, %s)", nat.table, nat.block)
            return nat
    log.info("outbound network: slirp4netns (kernel NAT unavailable: %s)", reason)
    return None
