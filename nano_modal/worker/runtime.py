"""Container runtimes behind one interface.

A runtime turns a ContainerSpec into a running process of `python -m nano_modal.container`
with the given environment. `process` is the development fallback: no isolation at all.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from abc import ABC, abstractmethod
from pathlib import Path

import nano_modal

log = logging.getLogger("nano_modal.worker")

# The container must import the SDK even when it is run from a source checkout.
SDK_ROOT = str(Path(nano_modal.__file__).resolve().parents[1])


class Runtime(ABC):
    name: str

    @abstractmethod
    async def start(self, env: dict[str, str], workdir: Path) -> asyncio.subprocess.Process:
        """Start the container entrypoint; its stdout and stderr must be pipes."""

    async def stop(self, proc: asyncio.subprocess.Process, grace: float = 2.0) -> None:
        """SIGTERM the container's process group, SIGKILL it after `grace` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            if proc.returncode is not None:
                return
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(proc.wait(), wait)
                return
            except TimeoutError:
                continue


class ProcessRuntime(Runtime):
    """Runs the container as a plain child process: no isolation, for development."""

    name = "process"
    _warned = False

    async def start(self, env: dict[str, str], workdir: Path) -> asyncio.subprocess.Process:
        if not ProcessRuntime._warned:
            log.warning("runtime 'process' gives containers NO isolation: use it for trusted code only")
            ProcessRuntime._warned = True
        env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (SDK_ROOT, env.get("PYTHONPATH", "")) if p)}
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "nano_modal.container",
            env=env,
            cwd=workdir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so stop() reaches its children too
        )


RUNTIMES: dict[str, type[Runtime]] = {"process": ProcessRuntime}


def make_runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]()
    except KeyError:
        raise SystemExit(f"unknown runtime {name!r}; available: {', '.join(RUNTIMES)}") from None
