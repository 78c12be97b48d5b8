"""A container's own network namespace with outbound NAT, and the policy of where it may go.

Every sandboxed container gets a network namespace of its own; it reaches the nano-modal
server only through the worker's Unix-socket relay (sandbox.ServerLink). Unless it asked for
`block_network`, it also gets outbound connections: through kernel NAT where the worker can
use it (kernel_nat.py: a veth pair per container, the policy as nftables rules in the host's
namespace, 1.5x-2x slirp's throughput and more, docs/BENCHMARKS.md), else through
slirp4netns: user-mode NAT that opens ordinary sockets on the host for it, so the host needs
no nftables and no ip_forward. slirp4netns over pasta (passt), measured on the 2-core test
machine: ready in 7-15 ms against pasta's 22-220 ms, 200-360 MB/s against pasta's 26-84 MB/s,
and pasta, run as root, drops to `nobody` and then cannot enter the container's user
namespace. Neither is within 2x of the host's throughput; kernel NAT is. Under either, the
routes below are laid down inside the container too (under kernel NAT, a second wall).

Where it may not go is said by routes in the container's namespace, which container root
cannot change (bwrap drops every capability, and the seccomp filter refuses new namespaces):
`prohibit` routes for private, link-local, shared and reserved ranges and for each of the
host's own addresses. The longest prefix wins, so an operator's `--allow-net CIDR` is a
route through slirp's gateway that is more specific than the prohibit around it. The host's
loopback is out of reach twice over: 127.0.0.0/8 inside is the container's own loopback,
and slirp4netns runs with --disable-host-loopback, which stops its gateway address
(10.0.2.2) from standing for the host's 127.0.0.1. DNS goes to slirp's resolver (10.0.2.3,
inside slirp's own /24, which stays reachable), which asks the host's.

The prohibit routes go in before slirp4netns creates the interface and the default route:
at no moment is there a route to a denied address. The container does not wait for either
(what it costs is CPU beside the container's start: +1-6 ms, docs/BENCHMARKS.md); until
slirp (or the veth) is ready, ~10-20 ms, well inside the Python entrypoint's own start, it
has no route out at all. IPv6 is not routed out.

Under gVisor (`--network=sandbox`), the sandbox's own network stack copies the interfaces and
unicast routes of a namespace the worker prepared before it starts (prepare_for_gvisor): it
has no `prohibit` routes, so the denied networks are routed to a dead end instead, a veth
whose peer is down (nothing sent there leaves; a connection fails with "No route to host"
once its neighbour lookup gives up, ~3 s). gVisor reads the routes once, at its start: the
namespace is ready, its NAT included, before runsc runs. Under kernel NAT the host's table
still applies to every packet gVisor sends: an address the host gains while it runs is
refused to it too (under slirp4netns that is the one known gap, address_watch.py).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from . import kernel_nat

log = logging.getLogger("nano_modal.worker")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Out of reach unless the operator allows them: private (RFC 1918), carrier-grade NAT, link-local
# (cloud metadata at 169.254.169.254), "this network", IETF protocol assignments, benchmarking,
# multicast and reserved. 127.0.0.0/8 is the container's own loopback: no route of ours reaches it.
DENIED_NETWORKS = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
SLIRP_GATEWAY = "10.0.2.2"  # slirp4netns's default network: 10.0.2.0/24, the container at .100
SLIRP_DNS = "10.0.2.3"
SLIRP_MTU = 65520  # slirp4netns's recommended MTU: several times the throughput of 1500
INTERFACE = "tap0"
READY_TIMEOUT = 10.0  # seconds slirp4netns has to come up before the container goes without
LOOPBACK_TIMEOUT = 2.0  # seconds bwrap has to bring its loopback up (then we go ahead anyway)
LOOPBACK_POLL = 0.001
EVERYWHERE = ("0.0.0.0/1", "128.0.0.0/1")  # prohibited under an outbound allowlist; beats the default route
# gVisor's dead end for denied networks: a veth pair whose peer stays down. gVisor takes an
# interface only with an address: one of the IETF range, denied anyway.
DEAD_END, DEAD_END_PEER, DEAD_END_ADDRESS = "deny0", "deny1", "192.0.0.8/32"
_CLONE_NEWNET = 0x40000000


def slirp_binary() -> str | None:
    return shutil.which("slirp4netns")


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """`--allow-net` values as networks; a bad one is a one-line error that names it."""
    networks = []
    for value in values:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"--allow-net {value!r} is not a network in CIDR form (e.g. 10.1.0.0/16): {exc}") from None
        if network.version != 4:
            raise ValueError(f"--allow-net {value!r}: containers have no IPv6 route out, only IPv4 networks apply")
        networks.append(network)
    return tuple(networks)


def host_addresses() -> list[ipaddress.IPv4Address]:
    """The host's own IPv4 addresses (those of every interface), as the worker sees them now."""
    try:
        out = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        log.warning("could not list the host's addresses (%s): containers may reach them", exc)
        return []
    found = []
    for link in json.loads(out or "[]"):
        for info in link.get("addr_info", []):
            with contextlib.suppress(ValueError, KeyError):
                found.append(ipaddress.IPv4Address(info["local"]))
    return found


def nameservers(kernel: kernel_nat.KernelNat | None) -> tuple[str, ...]:
    """Where containers with outbound NAT send DNS: under kernel NAT the host's own resolvers
    (kernel_nat.py lets DNS, and only DNS, through to them); under slirp4netns slirp's resolver
    (the host's own is often at a private or loopback address, out of its containers' reach)."""
    return tuple(str(r) for r in kernel.resolvers) if kernel is not None else (SLIRP_DNS,)


@cache
def resolv_conf(servers: tuple[str, ...]) -> str:
    """A resolv.conf naming `servers` (nameservers()), for containers with outbound NAT."""
    directory = tempfile.mkdtemp(prefix="nano-modal-net-")
    atexit.register(shutil.rmtree, directory, True)
    path = Path(directory) / "resolv.conf"
    path.write_text("".join(f"nameserver {server}\n" for server in servers))
    path.parent.chmod(0o755)
    path.chmod(0o644)
    return str(path)


class NetworkPolicy:
    """Where containers with outbound NAT may not go: the denied ranges, the host's addresses,
    minus what the operator allowed (`nano-modal worker --allow-net CIDR`)."""

    def __init__(self, allowed: Iterable[IPNetwork] = (), only: Iterable[IPNetwork] = ()) -> None:
        self.allowed = tuple(allowed)
        # A sandbox's outbound_cidr_allowlist: everything else prohibited too (two /1 routes, more
        # specific than slirp's default route). It narrows the policy, never widens it: a network
        # it names inside a denied range stays denied unless the operator allowed it.
        self.only = tuple(only)

    def narrowed(self, only: Iterable[IPNetwork]) -> NetworkPolicy:
        return NetworkPolicy(self.allowed, only)

    def denied(self, hosts: bool = True) -> list[IPNetwork]:
        """The denied ranges and (unless not `hosts`) the host's addresses as they are now (listed
        at every container start: an address the host gains later is denied too). A denied network
        inside an allowed one is dropped; an allowed one inside a denied one is a more specific
        route (allow_routes)."""
        ranges = [ipaddress.ip_network(n) for n in DENIED_NETWORKS]
        denied = [d for d in ranges if not any(d.subnet_of(a) for a in self.allowed)]  # type: ignore[arg-type]
        if hosts:
            denied += [ipaddress.ip_network(f"{a}/32") for a in host_addresses() if self.needs_own_denial(a)]
        return denied

    def needs_own_denial(self, address: ipaddress.IPv4Address) -> bool:
        """Whether a host address needs a /32 denial of its own: not when a denied range holds it
        already (kernel NAT gives every container a host-side address in 10.213.0.0/16: without
        this, each start would change every running container's denial), nor when the operator
        allowed it."""
        if address.is_loopback or any(address in a for a in self.allowed):
            return False
        return not any(address in ipaddress.ip_network(n) for n in DENIED_NETWORKS)

    def routes(self) -> list[str]:
        """`ip -batch` lines for the container's namespace, before its interface exists."""
        return [f"route add prohibit {net}" for net in dict.fromkeys(self._prohibited())]

    def _prohibited(self) -> list[IPNetwork]:
        return [*self.denied(), *(map(ipaddress.ip_network, EVERYWHERE) if self.only else ())]

    def refreshed_routes(self) -> list[str]:
        """The same denial as it stands now, for a namespace that has its routes already (a
        container booted ahead of need, handed over later: the host may have gained addresses)."""
        return [f"route replace prohibit {net}" for net in dict.fromkeys(self._prohibited())]

    def dead_end_routes(self, denied: list[IPNetwork] | None = None) -> list[str]:
        """The same denial for gVisor's network stack, which copies unicast routes only: every
        denied network (as `denied()` says now, unless given) through the dead-end interface,
        in a namespace with its loopback up."""
        lines = ["link set lo up", f"link add {DEAD_END} type veth peer name {DEAD_END_PEER}"]
        lines += [f"link set {DEAD_END} up", f"addr add {DEAD_END_ADDRESS} dev {DEAD_END}"]
        nets = self.denied() if denied is None else denied
        return lines + [f"route add {net} dev {DEAD_END}" for net in dict.fromkeys(nets)]

    def allow_routes(self, gateway: str = SLIRP_GATEWAY, interface: str = INTERFACE) -> list[str]:
        """... and once the NAT's interface is up: the operator's networks through its gateway."""
        return [f"route replace {net} via {gateway} dev {interface}" for net in self._routed()]

    def verdicts(self) -> list[tuple[IPNetwork, bool]]:
        """The same policy for a firewall that takes the first rule that matches (kernel_nat.py's
        nftables chain): (network, allowed), the most specific first, as the routes above decide
        (at equal prefix the allowing route replaces the prohibit). The host's addresses are not
        here: packets to them are the input chain's, which refuses them whatever they are."""
        routed = self._routed()
        prohibited = [*self.denied(hosts=False), *(map(ipaddress.ip_network, EVERYWHERE) if self.only else ())]
        entries = [(net, True) for net in routed] + [(net, False) for net in prohibited if net not in routed]
        return sorted(dict.fromkeys(entries), key=lambda entry: -entry[0].prefixlen)

    def host_reachable(self) -> list[IPNetwork]:
        """The host's own addresses a container may reach: those in the operator's networks (and,
        narrowed, in the container's own allowlist too), as allow_routes opens them."""
        return [a for a in self.allowed if not self.only or any(a.subnet_of(o) for o in self.only)]  # type: ignore[arg-type]

    def _routed(self) -> list[IPNetwork]:
        """What goes through slirp's gateway: the operator's networks and, with `only`, just those
        inside it, plus the `only` networks outside every denied range (or inside an allowed one)."""
        if not self.only:
            return list(self.allowed)
        denied = self.denied()
        inside = [a for a in self.allowed if any(a.subnet_of(o) for o in self.only)]  # type: ignore[arg-type]
        own: list[IPNetwork] = []
        for o in self.only:
            if any(o.subnet_of(d) for d in denied) and not any(o.subnet_of(a) for a in self.allowed):  # type: ignore[arg-type]
                continue  # denied, and not the operator's to open: stays denied
            own += o.subnets(1) if o.prefixlen == 0 else [o]  # 0.0.0.0/0: the /1 halves replace the prohibits
        return list(dict.fromkeys([*inside, *own]))


async def _loopback_up(pid: int) -> None:
    """Wait until bwrap has brought up the namespace's loopback (::1 appears once it is up).
    bwrap reports the pid before it configures the loopback over netlink, and its request
    fails ("loopback: Failed RTM_NEWADDR") when ours reach the same namespace at that moment."""
    deadline = asyncio.get_running_loop().time() + LOOPBACK_TIMEOUT
    while asyncio.get_running_loop().time() < deadline:
        try:
            if " lo\n" in Path(f"/proc/{pid}/net/if_inet6").read_text():
                return
        except FileNotFoundError:  # no IPv6 in this kernel: nothing to wait on; or the container is gone
            return
        await asyncio.sleep(LOOPBACK_POLL)


def new_namespace() -> int:
    """A new, empty network namespace, held by the returned descriptor (its path for others:
    /proc/<worker pid>/fd/<fd>). Made by a thread of its own, which goes back to the worker's
    namespace (and ends) before anything else runs in it."""
    found: list[int | BaseException] = []

    def make() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.unshare(_CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
            found.append(os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC))
            if libc.setns(own, _CLONE_NEWNET) != 0:  # (this thread ends here either way)
                raise OSError(ctypes.get_errno(), "could not return to the worker's network namespace")
        except BaseException as exc:
            found.append(exc)
        finally:
            os.close(own)

    thread = threading.Thread(target=make, name="nano-modal-netns")
    thread.start()
    thread.join()
    if isinstance(found[-1], BaseException):
        for fd in found[:-1]:
            os.close(fd)  # type: ignore[arg-type]
        raise found[-1]
    return found[-1]


def open_container_namespace(pid: int) -> int:
    """A descriptor of process `pid`'s network namespace, opened once while the container runs:
    every later change goes through it, never through /proc/<pid> again. By path, a container
    that had ended by then and a host process given its pid (pids wrap within minutes on a busy
    host: pid_max is 32768 here) made the worker lay a container's prohibit routes in the host's
    own table. OSError if the process is gone or is in the worker's own namespace."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    own, found = os.stat("/proc/self/ns/net"), os.fstat(fd)
    if (found.st_dev, found.st_ino) == (own.st_dev, own.st_ino):
        os.close(fd)
        raise OSError(f"process {pid} is in the worker's own network namespace: not a container's")
    return fd


async def _ip_batch(netns: str | int | None, lines: list[str]) -> None:
    """`lines` through `ip -batch` in namespace `netns`: a path, a descriptor of the worker's, or
    None for the worker's own. A descriptor is entered by nsenter on its path in the worker's fd
    table, not by a preexec_fn setns: Python run in the worker's forked child failed now and then
    beside gRPC's threads (its fork handlers), and a container went without network."""
    if not lines:
        return
    if isinstance(netns, int):
        netns = f"/proc/{os.getpid()}/fd/{netns}"
    argv = ["ip", "-batch", "-"] if netns is None else ["nsenter", f"--net={netns}", "ip", "-batch", "-"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate("\n".join(lines).encode() + b"\n")
    if proc.returncode != 0:
        raise RuntimeError(f"setting the container's routes failed: {err.decode(errors='replace').strip()}")


async def _read_once(fd: int, size: int) -> bytes:
    """One read from pipe `fd` once it has data (or its writer closed it), without a thread."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
    return os.read(fd, size)


async def child_pid(info_fd: int) -> int:
    """The pid bwrap's `--info-fd` reports: its child's, inside the new namespaces."""
    data = b""
    while True:
        chunk = await _read_once(info_fd, 4096)
        if not chunk:
            raise RuntimeError(f"bwrap reported no child pid: {data!r}")
        data += chunk
        with contextlib.suppress(ValueError):
            return int(json.loads(data)["child-pid"])


class OutboundNat:
    """One container's way out, attached to its network namespace (that of process `pid` under
    bwrap; one the worker made, under gVisor): a veth link of the worker's kernel NAT
    (kernel_nat.py) if it has one, else a slirp4netns, which exits when the worker closes its
    end of the exit pipe (or the worker dies)."""

    def __init__(self, policy: NetworkPolicy, kernel: kernel_nat.KernelNat | None = None) -> None:
        self.policy = policy
        self.kernel = kernel
        self.slot: kernel_nat.Slot | None = None  # its link, under kernel NAT
        self.proc: asyncio.subprocess.Process | None = None
        self._exit_w: int | None = None
        self.netns = ""  # the path of the container's network namespace, once started (bwrap's)
        self._netns_fd: int | None = None  # ... held open (open_container_namespace), bwrap's
        self.denied: list[IPNetwork] = []  # what gVisor's namespace routes to the dead end

    async def refresh(self) -> None:
        """Deny what the policy denies now: the host's addresses are listed anew. A gVisor
        container's routes are gVisor's copy, made at its start: if the policy denies more now,
        RuntimeError (a booted container is then not used: preboot.py starts another)."""
        if self._netns_fd is not None:  # (the host's addresses listed off the event loop: many hand-overs at once)
            await _ip_batch(self.netns, await asyncio.to_thread(self.policy.refreshed_routes))
        elif self.denied and self.slot is None:  # (under kernel NAT the host's table denies it, live)
            now = await asyncio.to_thread(self.policy.denied)
            gained = [str(net) for net in now if net not in self.denied]
            if gained:
                raise RuntimeError(f"the host gained {', '.join(gained)} since its network was made")

    async def start(self, pid: int) -> None:
        """bwrap's: the denial first, then the NAT, while the container already runs."""
        await _loopback_up(pid)
        self._netns_fd = fd = open_container_namespace(pid)
        # By the worker's own descriptor's path (nsenter): a pid-free path, and no Python run in
        # a forked child of the worker (a preexec_fn there failed now and then beside gRPC's threads).
        self.netns = netns = f"/proc/{os.getpid()}/fd/{fd}"
        if self.kernel is not None:  # the prohibit routes too: a second wall, inside
            await self._link(netns, self.policy.routes())
            return
        await _ip_batch(netns, self.policy.routes())  # first: never a route to a denied address
        await self._slirp(netns)
        await _ip_batch(netns, self.policy.allow_routes())

    async def prepare_for_gvisor(self, fd: int) -> None:
        """gVisor's: the NAT and the routes of the namespace held by descriptor `fd` (no process
        in it yet), all in place before runsc copies them (no container runs yet: no moment to
        guard). One after the other: the dead end's batch run while slirp4netns configured its
        interface failed now and then ("route add 10.0.0.0/8 ...: File exists", 2 of 40).
        Refreshed at most once, before runsc starts (refresh_for_gvisor): gVisor has its copy."""
        self.denied = await asyncio.to_thread(self.policy.denied)  # (lists the host's addresses)
        if self.kernel is not None:  # the dead end too: a second wall, inside
            await self._link(fd, self.policy.dead_end_routes(self.denied))
            return
        await self._slirp(f"/proc/{os.getpid()}/fd/{fd}")
        await _ip_batch(fd, self.policy.dead_end_routes(self.denied) + self.policy.allow_routes())

    async def refresh_for_gvisor(self, fd: int) -> None:
        """A namespace prepared ahead of its container: what the policy denies now that it did
        not then (an address the host gained meanwhile) goes to the dead end too."""
        now = await asyncio.to_thread(self.policy.denied)
        gained = [net for net in now if net not in self.denied]
        await _ip_batch(fd, [f"route add {net} dev {DEAD_END}" for net in gained])
        self.denied += gained

    async def _link(self, netns: str | int, first: list[str]) -> None:
        """Kernel NAT: the container's chains in the host's table, then `first` and its end of the
        link in its namespace, then the host's end up: only then can a packet leave."""
        assert self.kernel is not None
        kernel, self.slot = self.kernel, self.kernel.claim()
        await asyncio.to_thread(kernel.admit, self.slot, self.policy)
        gateway = self.slot.gateway
        lines = first + kernel.container_lines(self.slot) + self.policy.allow_routes(gateway, kernel_nat.INTERFACE)
        # The host's resolvers, often in a denied range: a route to them (the table lets DNS only through).
        lines += [f"route replace {r}/32 via {gateway} dev {kernel_nat.INTERFACE}" for r in kernel.resolvers]
        await _ip_batch(netns, lines)
        await _ip_batch(None, kernel.host_lines(self.slot))

    async def _slirp(self, netns: str) -> None:
        slirp = slirp_binary()
        if slirp is None:
            raise RuntimeError("slirp4netns is not installed (apt-get install slirp4netns)")
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        try:
            argv = [slirp, "--configure", f"--mtu={SLIRP_MTU}", "--disable-host-loopback"]
            # By path, not pid: given a pid, slirp4netns also joins its user namespace, which may
            # by then be bwrap's nested one (--disable-userns), from which the net one is out of reach.
            argv += [f"--ready-fd={ready_w}", f"--exit-fd={exit_r}", "--netns-type=path"]
            argv += [netns, INTERFACE]
            self.proc = await asyncio.create_subprocess_exec(
                *argv, pass_fds=(ready_w, exit_r), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(ready_w)
            os.close(exit_r)
        try:
            ready = await asyncio.wait_for(_read_once(ready_r, 1), READY_TIMEOUT)
        finally:
            os.close(ready_r)
        if ready != b"1":
            raise RuntimeError("slirp4netns did not come up")

    async def close(self) -> None:
        if self._netns_fd is not None:
            os.close(self._netns_fd)
            self._netns_fd = None
        if self.slot is not None and self.kernel is not None:
            slot, self.slot = self.slot, None
            await asyncio.to_thread(self.kernel.release, slot)
        if self._exit_w is not None:
            os.close(self._exit_w)
            self._exit_w = None
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
