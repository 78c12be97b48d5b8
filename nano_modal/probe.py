"""`Probe`: how `Sandbox.wait_until_ready()` tells that a sandbox is ready."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .exception import Error, InvalidError, SandboxTerminatedError
from .exception import TimeoutError as NanoTimeoutError

if TYPE_CHECKING:
    from .sandbox import Sandbox

DEFAULT_INTERVAL_MS = 100  # between two tries of a probe


@dataclass(frozen=True)
class Probe:
    """Ready when something in the sandbox accepts TCP connections on `tcp_port`, or when
    `exec_argv` run in the sandbox exits 0. Make one with `Probe.with_tcp` or `Probe.with_exec`."""

    tcp_port: int | None = None
    exec_argv: tuple[str, ...] | None = None
    interval_ms: int = DEFAULT_INTERVAL_MS

    def __post_init__(self) -> None:
        if (self.tcp_port is None) == (self.exec_argv is None):
            raise InvalidError("a Probe checks a TCP port or runs a command: give exactly one")
        if self.tcp_port is not None and not 0 < self.tcp_port < 65536:
            raise InvalidError(f"Probe: port must be between 1 and 65535, got {self.tcp_port}")
        if self.exec_argv is not None and (not self.exec_argv or not all(isinstance(a, str) for a in self.exec_argv)):
            raise InvalidError("Probe.with_exec needs a command: one or more strings")
        if self.interval_ms <= 0:
            raise InvalidError(f"Probe: interval_ms must be positive, got {self.interval_ms}")

    @staticmethod
    def with_tcp(port: int, *, interval_ms: int = DEFAULT_INTERVAL_MS) -> Probe:
        return Probe(tcp_port=port, interval_ms=interval_ms)

    @staticmethod
    def with_exec(*argv: str, interval_ms: int = DEFAULT_INTERVAL_MS) -> Probe:
        return Probe(exec_argv=tuple(argv), interval_ms=interval_ms)

    async def passes(self, sandbox: Sandbox) -> bool:
        if self.tcp_port is not None:
            try:
                await sandbox._builtin("connect", str(self.tcp_port))
            except (OSError, Error):  # refused, or the sandbox has finished (the caller polls it)
                return False
            return True
        assert self.exec_argv is not None
        try:
            process = await sandbox.exec.aio(*self.exec_argv)
            exit_code: int = await process._wait_exit()
        except Error:
            return False
        return exit_code == 0


async def wait_until_ready(sandbox: Sandbox, probe: Probe | None, timeout: float) -> None:
    if probe is None:
        raise InvalidError(f"{sandbox}: wait_until_ready() needs Sandbox.create(readiness_probe=modal.Probe...)")
    deadline = time.monotonic() + timeout
    while not await probe.passes(sandbox):
        if await sandbox.poll.aio() is not None:
            raise SandboxTerminatedError(f"{sandbox} finished before it was ready (exit code {sandbox.returncode})")
        if time.monotonic() >= deadline:
            raise NanoTimeoutError(f"{sandbox} was not ready within {timeout:g}s")
        await asyncio.sleep(probe.interval_ms / 1000)
