"""A container's own network: what it costs at start, and the outbound NAT's throughput.

    python bench/bench_network.py [--quick] [--json FILE] [-n N]

Part 1, launch `python -c pass` under bwrap four ways, samples interleaved: the network
shared with the host (the argv before issue 13), a network namespace of its own without
outbound NAT (block_network), one with slirp4netns's NAT and one with kernel NAT (veth +
nftables, worker/kernel_nat.py: the default where it is available). Median and fastest of N,
with and without the container's cgroup.

Part 2, throughput: 512 MiB sent to a peer in a network namespace this script makes
(ip netns + veth, 203.0.113.0/30, TEST-NET-3), from the host directly, from bwrap containers
through either NAT, and from gVisor containers (`--network=sandbox`: gVisor's own network
stack on either NAT), as the worker runs them (ptrace platform) and with runsc options that
might make it faster (--gvisor-only skips bwrap and the launches). Needs root, bwrap, runsc,
slirp4netns, nft and iproute2.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as c

from nano_modal.worker import kernel_nat
from nano_modal.worker.base import ContainerConfig
from nano_modal.worker.bwrap import BwrapRuntime
from nano_modal.worker.gvisor import GVisorRuntime
from nano_modal.worker.sandbox import SandboxingRuntime

NAMESPACE, HOST_SIDE, PEER, PORT = "nmbenchnet", "203.0.113.1", "203.0.113.2", 18091
SINK = f"""
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT}))
s.listen(8)
while True:
    c, _ = s.accept()
    while c.recv(1 << 20):
        pass
    c.sendall(b"k")
    c.close()
"""
SEND = """
import socket, sys, time
mib = int(sys.argv[1])
s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=30)
chunk, t = b"x" * (1 << 20), time.perf_counter()
for _ in range(mib):
    s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(mib / (time.perf_counter() - t))
"""


class NoNat(BwrapRuntime):
    """A network namespace of its own, no outbound NAT: what block_network gets."""

    def outbound(self, cfg: ContainerConfig) -> bool:
        return False


class SharedNetwork(NoNat):
    """The argv before issue 13: the host's network namespace."""

    def argv(self, *args: object, **kwargs: object) -> list[str]:
        argv = super().argv(*args, **kwargs)  # type: ignore[arg-type]
        argv.remove("--unshare-net")
        return argv


class SlirpBwrap(BwrapRuntime):
    """bwrap's outbound NAT through slirp4netns (the worker's before kernel NAT; its fallback)."""

    def nat_kernel(self) -> kernel_nat.KernelNat | None:
        return None


class GVisorWith(GVisorRuntime):
    """The worker's gVisor runtime with runsc options changed (what could make its network
    faster), on kernel NAT or (kernel=False) on slirp4netns."""

    def __init__(self, options: list[str], kernel: bool = True) -> None:
        self.kernel = kernel
        super().__init__(limits=False)
        self.options = options

    def nat_kernel(self) -> kernel_nat.KernelNat | None:
        return kernel_nat.shared() if self.kernel else None

    def _runsc(self, cfg: ContainerConfig | None = None, networked: bool = False) -> list[str]:
        args = super()._runsc(cfg, networked)
        if cfg is None:
            return args
        for option in self.options:  # e.g. --platform=systrap replaces the worker's --platform=ptrace
            args = [a for a in args if a.split("=")[0] != option.split("=")[0]]
        return [*args, *self.options]


# The worker's own gVisor, then the cheap options: the systrap platform (runsc's default since
# 2023, faster system calls than ptrace), and gVisor's generic receive offload. (Not
# --tx-checksum-offload: slirp4netns's tap drops the unsummed packets, nothing connects.)
GVISOR_VARIANTS: dict[str, tuple[list[str], bool]] = {
    "gVisor kernel NAT (worker's: ptrace)": ([], True),
    "gVisor slirp4netns (ptrace)": ([], False),
    "gVisor kernel NAT, systrap": (["--platform=systrap"], True),
    "gVisor kernel NAT, systrap+gro": (["--platform=systrap", "--gvisor-gro"], True),
}


async def _run(runtime: SandboxingRuntime, name: str, command: list[str]) -> tuple[float, str]:
    cfg = ContainerConfig(name, {"PATH": os.environ["PATH"]}, Path(tempfile.mkdtemp(prefix="nano-modal-bench-")))
    cfg.command = command
    t = time.perf_counter()
    proc = await runtime.start(cfg)
    out, err = await proc.communicate()
    elapsed = time.perf_counter() - t
    await runtime.finish(cfg, proc.returncode or 0)
    runtime.disks.remove(cfg.workdir)  # its disk, held against the worker's disks' budget, and the directory
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}: {err.decode()[-500:]}"
    return elapsed, out.decode().strip()


def launches(n: int) -> None:
    rows = []
    for limits in (True, False):
        kinds = {
            "host's network (before)": SharedNetwork,
            "own, no NAT (block_network)": NoNat,
            "own + slirp4netns NAT": SlirpBwrap,
            "own + kernel NAT": BwrapRuntime,
        }
        runtimes = {name: cls(limits=limits) for name, cls in kinds.items()}
        times: dict[str, list[float]] = {name: [] for name in runtimes}
        for i in range(n):
            for name, runtime in runtimes.items():
                times[name].append(asyncio.run(_run(runtime, f"b{i}", [sys.executable, "-c", "pass"]))[0])
        base, base_min = c.median(times["host's network (before)"]), min(times["host's network (before)"])
        for name, samples in times.items():
            median, fastest = c.median(samples), min(samples)
            cgroup = "cgroup" if limits else "no cgroup"
            rows.append([f"{name}, {cgroup}", c.fmt_us(median), f"{(median - base) * 1e3:+.1f} ms",
                         c.fmt_us(fastest), f"{(fastest - base_min) * 1e3:+.1f} ms"])  # fmt: skip
    c.table(f"bwrap launch `python -c pass` (median and fastest of {n})",
            ["network", "median", "over before", "fastest", "over before"], rows)  # fmt: skip


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def throughput(mib: int, rounds: int, bwrap: bool = True, peer_mtu: int = 1500) -> None:
    _ip("netns", "add", NAMESPACE)
    sink = None
    try:
        _ip("link", "add", f"{NAMESPACE}h", "mtu", str(peer_mtu), "type", "veth", "peer", "name", f"{NAMESPACE}p",
            "mtu", str(peer_mtu))  # fmt: skip
        _ip("link", "set", f"{NAMESPACE}p", "netns", NAMESPACE)
        _ip("addr", "add", f"{HOST_SIDE}/30", "dev", f"{NAMESPACE}h")
        _ip("-n", NAMESPACE, "addr", "add", f"{PEER}/30", "dev", f"{NAMESPACE}p")
        _ip("link", "set", f"{NAMESPACE}h", "up")
        _ip("-n", NAMESPACE, "link", "set", f"{NAMESPACE}p", "up")
        sink = subprocess.Popen(["ip", "netns", "exec", NAMESPACE, sys.executable, "-c", SINK])
        time.sleep(0.5)
        runtimes: dict[str, SandboxingRuntime] = {}
        if bwrap:
            runtimes = {"bwrap kernel NAT": BwrapRuntime(limits=False), "bwrap slirp4netns": SlirpBwrap(limits=False)}
        runtimes.update({name: GVisorWith(*variant) for name, variant in GVISOR_VARIANTS.items()})
        send = [str(mib), PEER, str(PORT)]
        # (a container waits a moment: its NAT comes up while it starts, see worker/network.py)
        command = [sys.executable, "-c", "import time; time.sleep(0.3)\n" + SEND, *send]
        speeds: dict[str, list[float]] = {"host": [], **{name: [] for name in runtimes}}
        for i in range(rounds):  # interleaved: each round measures every kind once
            host = subprocess.run([sys.executable, "-c", SEND, *send], capture_output=True, text=True, check=True)
            speeds["host"].append(float(host.stdout))
            for name, runtime in runtimes.items():
                speeds[name].append(float(asyncio.run(_run(runtime, f"t{i}", command))[1]))
        host_median = c.median(speeds["host"])
        rows = [[name, f"{c.median(s):.0f} MB/s", f"{min(s):.0f}-{max(s):.0f}", f"{c.median(s) / host_median:.2f}x"]
                for name, s in speeds.items()]  # fmt: skip
        title = f"{mib} MiB to a peer in a network namespace (its link's MTU {peer_mtu}), median of {rounds}"
        c.table(f"{title} (load {os.getloadavg()[0]:.1f})",
                ["sender", "median", "range", "of host's"], rows)  # fmt: skip
    finally:
        if sink is not None:
            sink.kill()
        subprocess.run(["ip", "link", "del", f"{NAMESPACE}h"], capture_output=True)
        subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True)


def main() -> None:
    args = c.parse_args(
        __doc__ or "",
        [
            (("-n",), {"type": int, "default": 30, "help": "launch samples per row"}),
            (("--gvisor-only",), {"action": "store_true", "help": "throughput of the host and gVisor only"}),
            (("--peer-mtu",), {"type": int, "default": 1500, "help": "the peer's link MTU (loopback's: 65536)"}),
        ],
    )
    if not args.gvisor_only:
        launches(5 if args.quick else args.n)
    throughput(64 if args.quick else 512, 1 if args.quick else 5, bwrap=not args.gvisor_only, peer_mtu=args.peer_mtu)


if __name__ == "__main__":
    main()
