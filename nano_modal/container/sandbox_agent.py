"""The process a sandbox runs: starts its entrypoint and every `exec`, relays their stdio.

It runs inside the container (same namespaces, cgroup, seccomp filter and view as the
user's code), so what it starts is confined like the entrypoint. It holds no credential:
it talks only to its worker, over a Unix socket the worker bound into the container and
unlinks once this agent has connected. Messages carry the fields of SandboxRelayDown (in)
and SandboxRelayUp (out): a JSON header and the raw bytes of `stdin`/`data` (see
`encode_frame`); the worker converts them to and from protobuf.

Standard library only, run as a script (`python -I -S sandbox_agent.py`), and on the
critical path of every sandbox's start: it imports nothing of the SDK and no asyncio (40 ms
of imports alone), only what it needs before it dials the worker; the rest (json,
subprocess) loads while the worker opens its relay to the server. Plain threads do the
work: the main one reads the worker's messages, each command gets one per stream; writes
to the socket are serialized by a lock, and block when the worker is slow to read.

File operations (`sb.open`, `ls`, `mkdir`, `rm`) are execs of a `builtin` the agent runs
itself: no process to start, same stdio relay.
"""

from __future__ import annotations

import _socket
import contextlib
import os
import struct
import sys
import threading

TYPE_CHECKING = False  # what `typing` says, without importing it (10+ ms): mypy knows the name
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from typing import IO, Any

SOCKET_ENV = "NANO_MODAL_AGENT_SOCKET"
PTY_SIZE_ENV = "NANO_MODAL_PTY_SIZE"  # in an exec's env: "rows,cols" of the pty to make
CHUNK = 64 * 1024
EXEC_TIMEOUT_CODE = 124  # like `timeout(1)`; Modal reports a timed-out sandbox the same way
SIGKILL, SIGTERM = 9, 15  # the same on every Linux; `signal` would import enum before the dial
AGENT_PATH = os.path.realpath(__file__)
LENGTHS = struct.Struct(">II")  # header length, data length
# The worker reads frames from code it does not trust (a function container can run any agent):
# larger ones end the stream instead of being buffered.
MAX_HEADER = 1024 * 1024
MAX_DATA = 64 * 1024 * 1024
# SandboxRelayDown's fields (but `stdin`, the frame's bytes), as the agent reads them.
DOWN_DEFAULTS: dict[str, Any] = {
    "exec_id": "", "start": False, "argv": [], "workdir": "", "env": {}, "pty": False,
    "timeout": 0.0, "stdin_eof": False, "kill": False, "builtin": "", "rows": 0, "cols": 0,
}  # fmt: skip


def encode_frame(fields: dict[str, Any], data: bytes = b"") -> bytes:
    """One message: lengths, its fields but the bytes one as JSON, the bytes (stdin or output)."""
    import json  # loaded already by then (see main): kept out of the module's own imports

    header = json.dumps(fields).encode()
    return LENGTHS.pack(len(header), len(data)) + header + data


def decode_header(raw: bytes) -> dict[str, Any] | None:
    import json

    try:
        header = json.loads(raw)
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


class Down:
    """A message from the worker: SandboxRelayDown's fields, defaults filled in."""

    def __init__(self, fields: dict[str, Any], stdin: bytes) -> None:
        merged = {**DOWN_DEFAULTS, **fields}
        self.exec_id: str = merged["exec_id"]
        self.start: bool = merged["start"]
        self.argv: list[str] = merged["argv"]
        self.workdir: str = merged["workdir"]
        self.env: dict[str, str] = merged["env"]
        self.pty: bool = merged["pty"]
        self.timeout: float = merged["timeout"]
        self.stdin_eof: bool = merged["stdin_eof"]
        self.kill: bool = merged["kill"]
        self.builtin: str = merged["builtin"]
        self.rows: int = merged["rows"]
        self.cols: int = merged["cols"]
        self.stdin = stdin


class Link:
    """The socket to the worker: whole frames in, whole frames out (one writer at a time)."""

    def __init__(self, path: str) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.sock.connect(path)
        self.lock = threading.Lock()

    def send(self, fields: dict[str, Any], data: bytes = b"") -> None:
        frame = encode_frame(fields, data)
        with self.lock, contextlib.suppress(OSError):  # the worker went away: main() ends the sandbox
            self.sock.sendall(frame)

    def _exactly(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            try:
                got = self.sock.recv(min(n - len(buf), CHUNK))
            except OSError:
                return None
            if not got:
                return None
            buf += got
        return bytes(buf)

    def receive(self) -> Down | None:
        lengths = self._exactly(LENGTHS.size)
        if lengths is None:
            return None
        header_len, data_len = LENGTHS.unpack(lengths)
        header = self._exactly(header_len)
        data = self._exactly(data_len) if header is not None else None
        fields = decode_header(header) if header is not None else None
        return None if data is None or fields is None else Down(fields, data)

    def close(self) -> None:
        if self.lock.acquire(timeout=2.0):  # after a frame being written, unless the worker stopped reading
            self.lock.release()
        self.sock.close()


class Inbox:
    """What the worker sends to one command's stdin, in order; None for its end."""

    def __init__(self) -> None:
        self.items: list[bytes | None] = []
        self.ready = threading.Condition()

    def put(self, item: bytes | None) -> None:
        with self.ready:
            self.items.append(item)
            self.ready.notify()

    def get(self) -> bytes | None:
        with self.ready:
            self.ready.wait_for(lambda: bool(self.items))
            return self.items.pop(0)


def _thread(target: Any, *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)  # none may keep the agent alive
    thread.start()
    return thread


def _remaining(deadline: float | None) -> float | None:
    import time

    return None if deadline is None else max(0.0, deadline - time.monotonic())


class Exec:
    """One command (or builtin) and the threads that move its bytes."""

    def __init__(self, agent: Agent, down: Down) -> None:
        self.agent = agent
        self.down = down
        self.stdin = Inbox()
        self.proc: subprocess.Popen[bytes] | None = None
        self.terminal: int | None = None  # the pty's master side, with pty=True

    def send(self, data: bytes = b"", **fields: object) -> None:
        self.agent.link.send({"exec_id": self.down.exec_id, **fields}, data)

    def run(self) -> int:
        try:
            code = self._builtin() if self.down.builtin else self._process()
        except Exception as exc:  # it could not start: say why, like a shell would
            self.send(fd=2, data=f"{type(exc).__name__}: {exc}\n".encode())
            self.send(error=str(exc))
            code = 127 if isinstance(exc, FileNotFoundError) else 126
        finally:
            self.stdin.put(None)  # its feeder, if still waiting, closes the stdin it held
        self.send(exited=True, exit_code=code)
        return code

    def resize(self, rows: int, cols: int) -> None:
        """Set the pty's size; the kernel tells the foreground process (SIGWINCH)."""
        import fcntl
        import termios

        if self.terminal is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def kill(self, sig: int = SIGKILL) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def _process(self) -> int:
        import subprocess
        import time

        down = self.down
        deadline = time.monotonic() + down.timeout if down.timeout > 0 else None
        env = {**self.agent.env, **down.env}
        cwd = down.workdir or None
        if cwd:
            os.makedirs(cwd, exist_ok=True)
        if down.pty:
            self.proc, pumps = self._pty(env, cwd)
        else:
            self.proc = proc = subprocess.Popen(
                down.argv, env=env, cwd=cwd, start_new_session=True, bufsize=0,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            _thread(self._feed, proc.stdin)
            pumps = [_thread(self._pump, proc.stdout, 1), _thread(self._pump, proc.stderr, 2)]
        for pump in pumps:  # its output first, all of it (as a shell's pipe would), then its code
            pump.join(_remaining(deadline))
        try:
            if not any(pump.is_alive() for pump in pumps):
                return self.proc.wait(_remaining(deadline))
        except subprocess.TimeoutExpired:
            pass
        self.kill(SIGKILL)
        return EXEC_TIMEOUT_CODE

    def _feed(self, stdin: IO[bytes]) -> None:
        """Unbuffered pipes (bufsize=0): each write and read is one system call."""
        try:
            while (data := self.stdin.get()) is not None:
                while data:
                    data = data[stdin.write(data) or 0 :]
        except OSError:  # it closed its stdin, or exited
            pass
        finally:
            stdin.close()

    def _pump(self, stream: IO[bytes], fd: int) -> None:
        with stream:
            while data := stream.read(CHUNK):
                self.send(fd=fd, data=data)  # blocks while the worker is behind: a fast printer waits
        self.send(fd=fd, eof=True)

    def _pty(self, env: dict[str, str], cwd: str | None) -> tuple[subprocess.Popen[bytes], list[threading.Thread]]:
        import fcntl
        import subprocess
        import termios

        master, slave = os.openpty()
        self.terminal = master
        env.setdefault("TERM", "xterm-256color")
        if size := env.pop(PTY_SIZE_ENV, ""):  # the caller's terminal: rows,cols
            rows, cols = (int(n) for n in size.split(","))
            self.resize(rows, cols)

        def controlling_tty() -> None:  # in the child, after setsid: the pty becomes its terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            proc = subprocess.Popen(
                self.down.argv, env=env, cwd=cwd, start_new_session=True,
                stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty,
            )  # fmt: skip
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        # The feeder writes through its own descriptor: closing `master` can never hand its
        # number to another file while the feeder still writes to it.
        _thread(self._feed_terminal, os.dup(master))
        return proc, [_thread(self._read_terminal, master)]

    def _feed_terminal(self, terminal: int) -> None:
        try:
            while (data := self.stdin.get()) is not None:
                while data:
                    data = data[os.write(terminal, data) :]
            os.write(terminal, b"\x04")  # EOF at a terminal is ^D
        except OSError:
            pass
        finally:
            os.close(terminal)

    def _read_terminal(self, master: int) -> None:
        while True:
            try:
                data = os.read(master, CHUNK)
            except OSError:  # EIO: every holder of the slave side has closed it
                data = b""
            if not data:
                break
            self.send(fd=1, data=data)
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        self.terminal = None
        os.close(master)

    def _builtin(self) -> int:
        import json

        ops: dict[str, Callable[..., bytes]] = {
            "read": self._read,
            "write": self._write,
            "ls": _ls,
            "mkdir": _mkdir,
            "rm": _rm,
        }
        try:
            out = ops[self.down.builtin](*self.down.argv)
        except (OSError, ValueError) as exc:
            error = {"type": type(exc).__name__, "message": str(exc), "errno": getattr(exc, "errno", None)}
            self.send(fd=2, data=json.dumps(error).encode())
            self.send(fd=1, eof=True)
            self.send(fd=2, eof=True)
            return 1
        for start in range(0, len(out), CHUNK):
            self.send(fd=1, data=out[start : start + CHUNK])
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        return 0

    def _read(self, path: str, offset: str = "0", size: str = "-1") -> bytes:
        with open(path, "rb") as f:
            f.seek(int(offset))
            return f.read(int(size))

    def _write(self, path: str, mode: str) -> bytes:
        chunks = []
        while (data := self.stdin.get()) is not None:
            chunks.append(data)
        with open(path, mode.replace("b", "").replace("+", "") + "b") as f:
            f.write(b"".join(chunks))
        return b""


def _ls(path: str) -> bytes:
    import json

    return json.dumps(sorted(os.listdir(path))).encode()


def _mkdir(path: str, parents: str) -> bytes:
    if parents == "1":
        os.makedirs(path, exist_ok=True)
    else:
        os.mkdir(path)
    return b""


def _rm(path: str, recursive: str) -> bytes:
    if os.path.isdir(path) and not os.path.islink(path):
        if recursive != "1":
            raise IsADirectoryError(21, "is a directory (use recursive=True)", path)
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)
    return b""


class Agent:
    def __init__(self, link: Link, main_id: str) -> None:
        self.link = link
        self.main_id = main_id
        self.execs: dict[str, Exec] = {}
        self.env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
        self.codes: list[int] = []  # the first is the agent's exit code
        self.wake_read, self.wake_write = os.pipe()

    def end(self, code: int) -> None:
        """Wake main(): no lock, so that the SIGTERM handler may call it too."""
        self.codes.append(code)
        os.write(self.wake_write, b".")

    def serve(self) -> None:
        while (down := self.link.receive()) is not None:
            self.handle(down)
        self.end(137)  # the worker went away

    def handle(self, down: Down) -> None:
        if down.start:
            run = Exec(self, down)
            self.execs[down.exec_id] = run
            _thread(self._run, run)
            return
        found = self.execs.get(down.exec_id)
        if found is None:
            return
        if down.stdin:
            found.stdin.put(down.stdin)
        if down.stdin_eof:
            found.stdin.put(None)
        if down.kill:
            found.kill()
        if down.rows and down.cols:
            found.resize(down.rows, down.cols)

    def _run(self, run: Exec) -> None:
        code = 1
        try:
            code = run.run()
        finally:
            self.execs.pop(run.down.exec_id, None)
            if run.down.exec_id == self.main_id:
                self.end(code)

    def wait(self) -> int:
        os.read(self.wake_read, 1)
        for run in list(self.execs.values()):  # the sandbox ends: every command with it
            run.kill()
        self.link.close()
        code = self.codes[0]
        return code if 0 <= code < 256 else 128 + abs(code) % 128


def main() -> int:
    link = Link(os.environ[SOCKET_ENV])  # first: the worker opens its relay to the server meanwhile
    import json  # noqa: F401  # then what every command needs, loaded while that relay opens
    import signal
    import subprocess  # noqa: F401

    agent = Agent(link, os.environ.get("NANO_MODAL_CONTAINER_ID", ""))
    # Stopped by the worker: take every command down with the sandbox.
    signal.signal(signal.SIGTERM, lambda signum, frame: agent.end(128 + SIGTERM))
    _thread(agent.serve)
    return agent.wait()


if __name__ == "__main__":
    sys.exit(main())
