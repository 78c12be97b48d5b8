"""The process a sandbox runs: starts its entrypoint and every `exec`, relays their stdio.

It runs inside the container (same namespaces, cgroup, seccomp filter and view as the
user's code), so what it starts is confined like the entrypoint. It holds no credential:
it talks only to its worker, over a Unix socket the worker bound into the container and
unlinks once this agent has connected. Messages carry the fields of SandboxRelayDown (in)
and SandboxRelayUp (out): a JSON header and the raw bytes of `stdin`/`data` (see
`write_frame`); the worker converts them to and from protobuf.

Standard library only, run as a script (`python -I -S sandbox_agent.py`): it starts in
tens of milliseconds, imports nothing of the SDK, and needs no package in an image but Python.

File operations (`sb.open`, `ls`, `mkdir`, `rm`) are execs of a `builtin` the agent runs
itself: no process to start, same stdio relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import struct
import sys
import termios
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

SOCKET_ENV = "NANO_MODAL_AGENT_SOCKET"
PTY_SIZE_ENV = "NANO_MODAL_PTY_SIZE"  # in an exec's env: "rows,cols" of the pty to make
CHUNK = 64 * 1024
EXEC_TIMEOUT_CODE = 124  # like `timeout(1)`; Modal reports a timed-out sandbox the same way
AGENT_PATH = str(Path(__file__).resolve())
_LENGTHS = struct.Struct(">II")  # header length, data length
# The worker reads frames from code it does not trust (a function container can run any agent):
# larger ones end the stream instead of being buffered.
MAX_HEADER = 1024 * 1024
MAX_DATA = 64 * 1024 * 1024
# SandboxRelayDown's fields (but `stdin`, the frame's bytes), as the agent reads them.
DOWN_DEFAULTS: dict[str, Any] = {
    "exec_id": "", "start": False, "argv": [], "workdir": "", "env": {}, "pty": False,
    "timeout": 0.0, "stdin_eof": False, "kill": False, "builtin": "", "rows": 0, "cols": 0,
}  # fmt: skip


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes] | None:
    """One message: its fields but the bytes one, and the bytes (stdin or output)."""
    try:
        header_len, data_len = _LENGTHS.unpack(await reader.readexactly(_LENGTHS.size))
        if header_len > MAX_HEADER or data_len > MAX_DATA:
            return None
        header = json.loads(await reader.readexactly(header_len))
        if not isinstance(header, dict):
            return None
        return header, await reader.readexactly(data_len)
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        return None


def write_frame(writer: asyncio.StreamWriter, fields: dict[str, Any], data: bytes = b"") -> None:
    header = json.dumps(fields).encode()
    writer.write(_LENGTHS.pack(len(header), len(data)) + header + data)


class Exec:
    def __init__(self, agent: Agent, down: SimpleNamespace) -> None:
        self.agent = agent
        self.down = down
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.proc: asyncio.subprocess.Process | None = None
        self.terminal: int | None = None  # the pty's master side, with pty=True

    def send(self, data: bytes = b"", **fields: object) -> None:
        write_frame(self.agent.writer, {"exec_id": self.down.exec_id, **fields}, data)

    async def run(self) -> int:
        down = self.down
        try:
            if down.builtin:
                code = await self._builtin()
            else:
                code = await asyncio.wait_for(self._process(), down.timeout or None)
        except TimeoutError:
            self.kill(signal.SIGKILL)
            code = EXEC_TIMEOUT_CODE
        except Exception as exc:  # it could not start: say why, like a shell would
            self.send(fd=2, data=f"{type(exc).__name__}: {exc}\n".encode())
            self.send(error=str(exc))
            code = 127 if isinstance(exc, FileNotFoundError) else 126
        self.send(exited=True, exit_code=code)
        return code

    def resize(self, rows: int, cols: int) -> None:
        """Set the pty's size; the kernel tells the foreground process (SIGWINCH)."""
        if self.terminal is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    async def _process(self) -> int:
        down = self.down
        env = {**self.agent.env, **down.env}
        cwd = down.workdir or None
        if cwd:
            os.makedirs(cwd, exist_ok=True)
        if down.pty:
            return await self._pty(env, cwd)
        self.proc = proc = await asyncio.create_subprocess_exec(
            *down.argv, env=env, cwd=cwd, start_new_session=True,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        feeder = asyncio.create_task(self._feed(proc.stdin))
        await asyncio.gather(self._pump(proc.stdout, 1), self._pump(proc.stderr, 2))
        code = await proc.wait()
        feeder.cancel()
        return code

    async def _feed(self, stdin: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, BrokenPipeError):
            while (data := await self.stdin.get()) is not None:
                stdin.write(data)
                await stdin.drain()
            stdin.close()

    async def _pump(self, stream: asyncio.StreamReader, fd: int) -> None:
        while data := await stream.read(CHUNK):
            self.send(fd=fd, data=data)
            await self.agent.drain()  # a command that prints fast waits for the worker, not memory
        self.send(fd=fd, eof=True)

    async def _pty(self, env: dict[str, str], cwd: str | None) -> int:
        master, slave = os.openpty()
        self.terminal = master
        env.setdefault("TERM", "xterm-256color")
        if size := env.pop(PTY_SIZE_ENV, ""):  # the caller's terminal: rows,cols
            self.resize(*(int(n) for n in size.split(",")))

        def controlling_tty() -> None:  # in the child, after setsid: the pty becomes its terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.proc = proc = await asyncio.create_subprocess_exec(
                *self.down.argv, env=env, cwd=cwd, start_new_session=True,
                stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty,
            )  # fmt: skip
        finally:
            os.close(slave)
        loop = asyncio.get_running_loop()

        async def feed() -> None:
            while (data := await self.stdin.get()) is not None:
                await loop.run_in_executor(None, os.write, master, data)
            await loop.run_in_executor(None, os.write, master, b"\x04")  # EOF at a terminal is ^D

        feeder = asyncio.create_task(feed())
        while True:
            try:
                data = await loop.run_in_executor(None, os.read, master, CHUNK)
            except OSError:  # EIO: every holder of the slave side has closed it
                data = b""
            if not data:
                break
            self.send(fd=1, data=data)
            await self.agent.drain()
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        feeder.cancel()
        self.terminal = None
        os.close(master)
        return await proc.wait()

    async def _builtin(self) -> int:
        ops: dict[str, Callable[..., Awaitable[bytes]]] = {
            "read": self._read, "write": self._write, "ls": self._ls, "mkdir": self._mkdir, "rm": self._rm,
        }  # fmt: skip
        try:
            out = await ops[self.down.builtin](*self.down.argv)
        except (OSError, ValueError) as exc:
            error = {"type": type(exc).__name__, "message": str(exc), "errno": getattr(exc, "errno", None)}
            self.send(fd=2, data=json.dumps(error).encode())
            self.send(fd=1, eof=True)
            self.send(fd=2, eof=True)
            return 1
        for start in range(0, len(out), CHUNK):
            self.send(fd=1, data=out[start : start + CHUNK])
            await self.agent.drain()
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        return 0

    async def _read(self, path: str, offset: str = "0", size: str = "-1") -> bytes:
        return await asyncio.to_thread(_read_file, path, int(offset), int(size))

    async def _write(self, path: str, mode: str) -> bytes:
        chunks = []
        while (data := await self.stdin.get()) is not None:
            chunks.append(data)
        await asyncio.to_thread(_write_file, path, mode, b"".join(chunks))
        return b""

    async def _ls(self, path: str) -> bytes:
        return json.dumps(sorted(os.listdir(path))).encode()

    async def _mkdir(self, path: str, parents: str) -> bytes:
        if parents == "1":
            os.makedirs(path, exist_ok=True)
        else:
            os.mkdir(path)
        return b""

    async def _rm(self, path: str, recursive: str) -> bytes:
        if os.path.isdir(path) and not os.path.islink(path):
            if recursive != "1":
                raise IsADirectoryError(21, "is a directory (use recursive=True)", path)
            await asyncio.to_thread(shutil.rmtree, path)
        else:
            os.unlink(path)
        return b""


def _read_file(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def _write_file(path: str, mode: str, data: bytes) -> None:
    with open(path, mode.replace("b", "").replace("+", "") + "b") as f:
        f.write(data)


class Agent:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.execs: dict[str, Exec] = {}
        self.env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
        self.main_exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.tasks: set[asyncio.Task[int]] = set()

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    def handle(self, down: SimpleNamespace, main_id: str) -> None:
        if down.start:
            run = Exec(self, down)
            self.execs[down.exec_id] = run
            task = asyncio.create_task(run.run())
            self.tasks.add(task)
            task.add_done_callback(lambda t: self._finished(down.exec_id, t, main_id))
            return
        found = self.execs.get(down.exec_id)
        if found is None:
            return
        if down.stdin:
            found.stdin.put_nowait(down.stdin)
        if down.stdin_eof:
            found.stdin.put_nowait(None)
        if down.kill:
            found.kill()
        if down.rows and down.cols:
            found.resize(down.rows, down.cols)

    def _finished(self, exec_id: str, task: asyncio.Task[int], main_id: str) -> None:
        self.tasks.discard(task)
        self.execs.pop(exec_id, None)
        if exec_id == main_id and not self.main_exit.done():
            self.main_exit.set_result(0 if task.cancelled() or task.exception() else task.result())


async def main() -> int:
    reader, writer = await asyncio.open_unix_connection(os.environ[SOCKET_ENV])
    agent = Agent(writer)
    main_id = os.environ.get("NANO_MODAL_CONTAINER_ID", "")

    async def serve() -> None:
        while (frame := await read_frame(reader)) is not None:
            fields, data = frame
            agent.handle(SimpleNamespace(**{**DOWN_DEFAULTS, **fields}, stdin=data), main_id)
            await writer.drain()

    def terminated() -> None:  # stopped by the worker: take every command down with the sandbox
        if not agent.main_exit.done():
            agent.main_exit.set_result(128 + signal.SIGTERM)

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated)
    server = asyncio.create_task(serve())
    waiters: list[asyncio.Future[Any]] = [server, agent.main_exit]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    code = agent.main_exit.result() if agent.main_exit.done() else 137  # the worker went away
    for run in list(agent.execs.values()):
        run.kill()
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()
    return code if 0 <= code < 256 else 128 + abs(code) % 128


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
