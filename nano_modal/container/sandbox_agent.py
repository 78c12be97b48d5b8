"""The process a sandbox runs: starts its entrypoint and every `exec`, relays their stdio.

It runs inside the container (same namespaces, cgroup, seccomp filter and view as the
user's code), so what it starts is confined like the entrypoint. It holds no credential:
it talks only to its worker, over a Unix socket the worker bound into the container and
unlinks once this agent has connected. Messages carry the fields of SandboxRelayDown (in)
and SandboxRelayUp (out) and the raw bytes of `stdin`/`data` (see `encode_up`); the worker
converts them to and from protobuf.

It is on the critical path of every sandbox's start, so it imports next to nothing: run by
`python -I -S` (see PYTHON_ARGS), it loads only modules built into the interpreter
and `_socket` (measured: asyncio alone cost 40 ms of start-up, json and subprocess 15 ms
more; under gVisor, where every file opened goes through its gofer, several times that).
Hence plain `_thread` threads (the main one waits, one reads the worker's messages, each
command gets one per stream), `os.posix_spawn` to start commands, marshal for what the
worker sends (built in; the agent trusts its worker) and JSON written by hand for what it
sends back (the worker trusts nothing that comes out of a container: it parses with `json`).

File operations (`sb.open`, `ls`, `mkdir`, `rm`) are execs of a `builtin` the agent runs
itself: no process to start, same stdio relay.
"""

# ruff: noqa: SIM105  (try/except/pass: contextlib would be one more import at every start)
from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # `signal`'s constants, without its import of enum
import _socket
import _thread
import marshal
import os
import sys
import time

TYPE_CHECKING = False  # what `typing` says, without importing it (10+ ms): mypy knows the name
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from typing import Any

SOCKET_ENV = "NANO_MODAL_AGENT_SOCKET"
PTY_SIZE_ENV = "NANO_MODAL_PTY_SIZE"  # in an exec's env: "rows,cols" of the pty to make
TCP_BUILTIN = "tcp"  # argv [port]: a byte pipe to that port of the sandbox's loopback (Sandbox.tunnels)
# argv [path, recursive "1"/"0", event kinds "Create,Remove" or "" for all, timeout seconds or ""]:
# JSON lines of the path's changes until the timeout or stdin's end (sandbox_watch.py)
WATCH_BUILTIN = "watch"
CHUNK = 64 * 1024
EXEC_TIMEOUT_CODE = 124  # like `timeout(1)`; Modal reports a timed-out sandbox the same way
AGENT_PATH = os.path.realpath(__file__)
# How to run it: `python *PYTHON_ARGS`. Imported, so that its cached bytecode is used (a script
# is compiled at every start: ~6 ms); its directory is on sys.path only for that import.
PYTHON_ARGS = (
    "-I", "-S", "-c",
    "import sys; sys.path.insert(0, sys.argv[1]); import sandbox_agent as a; del sys.path[0]; sys.exit(a.main())",
    os.path.dirname(AGENT_PATH),
)  # fmt: skip
# The same agent in a sandbox booted ahead of need (worker/preboot.py): it dials its worker at
# once, then waits for its assignment (the sandbox's environment) before it serves.
BOOTED_PYTHON_ARGS = (*PYTHON_ARGS[:3], PYTHON_ARGS[3].replace("a.main()", "a.main(True)"), *PYTHON_ARGS[4:])
ASSIGNMENT_ENV = "env"  # the one field of a booted agent's assignment frame: the environment to run with
LENGTH_BYTES = 4  # a frame: its header's length and its data's (big-endian), the header, the data
# The worker reads frames from code it does not trust (a function container can run any agent):
# larger ones end the stream instead of being buffered.
MAX_HEADER = 1024 * 1024
MAX_DATA = 64 * 1024 * 1024
MARSHAL_VERSION = 4  # readable by every Python since 3.4, whatever an image's Python is
# SandboxRelayDown's fields (but `stdin`, the frame's bytes), as the agent reads them.
DOWN_DEFAULTS: dict[str, Any] = {
    "exec_id": "", "start": False, "argv": [], "workdir": "", "env": {}, "pty": False,
    "timeout": 0.0, "stdin_eof": False, "kill": False, "builtin": "", "rows": 0, "cols": 0,
}  # fmt: skip
_ESCAPES = {**{i: f"\\u{i:04x}" for i in range(32)}, ord('"'): '\\"', ord("\\"): "\\\\"}


def to_json(value: object) -> str:
    """JSON of what the agent sends (str, int, bool, None, lists and dicts of them)."""
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(to_json(str(k)) + ":" + to_json(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):  # images' Pythons older than 3.10 run this too
        return "[" + ",".join(map(to_json, value)) + "]"
    raise TypeError(f"the agent does not send {type(value).__name__} values")


def _frame(header: bytes, data: bytes) -> bytes:
    return len(header).to_bytes(LENGTH_BYTES, "big") + len(data).to_bytes(LENGTH_BYTES, "big") + header + data


def encode_up(fields: dict[str, Any], data: bytes = b"") -> bytes:
    """Agent -> worker. A lone surrogate (an undecodable file name) becomes a JSON escape."""
    return _frame(to_json(fields).encode("utf-8", "backslashreplace"), data)


def encode_down(fields: dict[str, Any], data: bytes = b"") -> bytes:
    """Worker -> agent."""
    return _frame(marshal.dumps(fields, MARSHAL_VERSION), data)


def lengths(prefix: bytes) -> tuple[int, int]:
    """A frame's header and data lengths, from its first 2 * LENGTH_BYTES bytes."""
    return int.from_bytes(prefix[:LENGTH_BYTES], "big"), int.from_bytes(prefix[LENGTH_BYTES:], "big")


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


def _start(target: Callable[..., object], *args: object) -> _thread.LockType:
    """Run `target` in a thread; the lock returned is held until it returns (see `_join`)."""
    done = _thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            target(*args)
        finally:
            done.release()

    _thread.start_new_thread(run, ())  # such threads never keep the agent alive
    return done


def _join(done: _thread.LockType, timeout: float | None = None) -> bool:
    """Whether the thread of `done` has returned, waiting up to `timeout` (None: for ever)."""
    if done.acquire(True, -1 if timeout is None else timeout):
        done.release()
        return True
    return False


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class Link:
    """The socket to the worker: whole frames in, whole frames out (one writer at a time)."""

    def __init__(self, path: str) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        self.sock.connect(path)
        self.lock = _thread.allocate_lock()

    def send(self, fields: dict[str, Any], data: bytes = b"") -> None:
        frame = encode_up(fields, data)
        with self.lock:  # blocks while the worker is behind: a command that prints fast waits
            try:
                self.sock.sendall(frame)
            except OSError:  # the worker went away: serve() ends the sandbox
                pass

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

    def receive_fields(self) -> tuple[dict[str, Any], bytes] | None:
        """One frame from the worker: its fields and its bytes; None at the end of the link."""
        prefix = self._exactly(2 * LENGTH_BYTES)
        if prefix is None:
            return None
        header_len, data_len = lengths(prefix)
        header = self._exactly(header_len)
        data = self._exactly(data_len) if header is not None else None
        if header is None or data is None:
            return None
        try:
            fields = marshal.loads(header)
        except (ValueError, EOFError, TypeError):
            return None
        return (fields, data) if isinstance(fields, dict) else None

    def receive(self) -> Down | None:
        frame = self.receive_fields()
        if frame is None:
            return None
        try:
            return Down(*frame)
        except TypeError:
            return None

    def close(self) -> None:
        if self.lock.acquire(True, 2.0):  # after a frame being written, unless the worker stopped reading
            self.lock.release()
        self.sock.close()


class Inbox:
    """What the worker sends to one command's stdin, in order; None for its end. One reader."""

    def __init__(self) -> None:
        self.items: list[bytes | None] = []
        self.mutex = _thread.allocate_lock()
        self.nonempty = _thread.allocate_lock()  # released exactly while `items` holds something
        self.nonempty.acquire()

    def put(self, item: bytes | None) -> None:
        with self.mutex:
            self.items.append(item)
            if len(self.items) == 1:
                self.nonempty.release()

    def get(self) -> bytes | None:
        self.nonempty.acquire()
        with self.mutex:
            item = self.items.pop(0)
            if self.items:
                self.nonempty.release()
        return item


def _which(name: str, env: dict[str, str]) -> str:
    """`name` found on the command's own PATH, as a shell (and subprocess) would."""
    if "/" in name:
        return name
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    raise FileNotFoundError(2, "No such file or directory", name)


def _spawn(
    argv: list[str], env: dict[str, str], cwd: str | None, stdio: tuple[int, int, int], setup: Callable[[], None] | None
) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start `argv` in a session of its own with `stdio` as its fds 0-2. posix_spawn needs no
    import and no fork of this threaded process; a working directory or a controlling terminal
    (`setup`) it cannot give, and subprocess (a fork) is loaded for those."""
    if cwd is None and setup is None:
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
        default = (_signal.SIGPIPE, _signal.SIGXFSZ)  # ignored by Python, not by the command
        pid = os.posix_spawn(_which(argv[0], env), argv, env, file_actions=actions, setsid=True, setsigdef=default)
        return pid, None
    import subprocess

    popen = subprocess.Popen(
        argv, env=env, cwd=cwd, start_new_session=True,
        stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], preexec_fn=setup,
    )  # fmt: skip
    return popen.pid, popen


class Exec:
    """One command (or builtin) and the threads that move its bytes."""

    def __init__(self, agent: Agent, down: Down) -> None:
        self.agent = agent
        self.down = down
        self.stdin = Inbox()
        self.pid = 0
        self.popen: subprocess.Popen[bytes] | None = None  # when subprocess started it (it reaps it)
        self.code: int | None = None  # once reaped
        self.terminal: int | None = None  # the pty's master side, with pty=True
        self.connection: _socket.socket | None = None  # the `tcp` builtin's, while open

    def send(self, data: bytes = b"", **fields: object) -> None:
        self.agent.link.send({"exec_id": self.down.exec_id, **fields}, data)

    def run(self) -> int:
        try:
            if self.down.builtin == TCP_BUILTIN:
                code = self._tcp(*self.down.argv)
            elif self.down.builtin == WATCH_BUILTIN:
                code = self._watch(*self.down.argv)
            else:
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
        import struct
        import termios

        if self.terminal is not None:
            try:
                fcntl.ioctl(self.terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            except OSError:
                pass

    def kill(self, sig: int = _signal.SIGKILL) -> None:
        if self.down.builtin == WATCH_BUILTIN:
            self.stdin.put(None)  # ends it, as the end of its stdin does
        if self.connection is not None:  # the `tcp` builtin: its reader sees the end
            try:
                self.connection.shutdown(_socket.SHUT_RDWR)
            except OSError:
                pass
        if self.pid and self.code is None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def _process(self) -> int:
        down = self.down
        deadline = time.monotonic() + down.timeout if down.timeout > 0 else None
        env = {**self.agent.env, **down.env}
        cwd = down.workdir or None
        if cwd:
            os.makedirs(cwd, exist_ok=True)
        pumps = self._pty(env, cwd) if down.pty else self._pipes(env, cwd)
        reaped = _start(self._reap)
        for pump in pumps:  # its output first, all of it (as a shell's pipe would), then its code
            _join(pump, _remaining(deadline))
        if all(_join(pump, 0) for pump in pumps) and _join(reaped, _remaining(deadline)):
            assert self.code is not None
            return self.code
        self.kill(_signal.SIGKILL)
        return EXEC_TIMEOUT_CODE

    def _reap(self) -> None:
        if self.popen is not None:
            self.code = self.popen.wait()
        else:
            self.code = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])

    def _pipes(self, env: dict[str, str], cwd: str | None) -> list[_thread.LockType]:
        pipes = [os.pipe() for _ in range(3)]  # (read, write); not inherited but as the command's 0-2
        ours, theirs = [pipes[0][1], pipes[1][0], pipes[2][0]], (pipes[0][0], pipes[1][1], pipes[2][1])
        try:
            self.pid, self.popen = _spawn(self.down.argv, env, cwd, theirs, None)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        _start(self._feed, ours[0])
        return [_start(self._pump, ours[1], 1), _start(self._pump, ours[2], 2)]

    def _feed(self, stdin: int) -> None:
        try:
            while (data := self.stdin.get()) is not None:
                while data:
                    data = data[os.write(stdin, data) :]
        except OSError:  # it closed its stdin, or exited
            pass
        finally:
            os.close(stdin)

    def _pump(self, stream: int, fd: int) -> None:
        try:
            while data := os.read(stream, CHUNK):
                self.send(fd=fd, data=data)
        finally:
            os.close(stream)
        self.send(fd=fd, eof=True)

    def _pty(self, env: dict[str, str], cwd: str | None) -> list[_thread.LockType]:
        import fcntl
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
            self.pid, self.popen = _spawn(self.down.argv, env, cwd, (slave, slave, slave), controlling_tty)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        # The feeder writes through its own descriptor: closing `master` can never hand its
        # number to another file while the feeder still writes to it.
        _start(self._feed_terminal, os.dup(master))
        return [_start(self._read_terminal, master)]

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

    def _tcp(self, port: str) -> int:
        """A byte pipe to 127.0.0.1:`port` in the sandbox's network (its stdin in, the port's
        answer out on stdout): how the server relays requests to a Sandbox.tunnels() port."""
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        self.connection = sock
        try:
            sock.connect(("127.0.0.1", int(port)))
            _start(self._feed_socket, sock)
            while data := sock.recv(CHUNK):
                self.send(fd=1, data=data)
        except OSError as exc:  # nothing listens there, or it reset the connection
            self.send(fd=2, data=f"{type(exc).__name__}: {exc}\n".encode())
            return 1
        finally:
            self.connection = None
            sock.close()
            self.send(fd=1, eof=True)
            self.send(fd=2, eof=True)
        return 0

    def _feed_socket(self, sock: _socket.socket) -> None:
        try:
            while (data := self.stdin.get()) is not None:
                sock.sendall(data)
            sock.shutdown(_socket.SHUT_WR)
        except OSError:  # closed meanwhile
            pass

    def _watch(self, *argv: str) -> int:
        """Stream a path's changes (Sandbox.filesystem.watch) until the timeout, or its stdin's end."""
        sys.path.insert(0, os.path.dirname(AGENT_PATH))  # loaded now: no cost at the agent's start
        try:
            import sandbox_watch  # type: ignore[import-not-found]
        finally:
            del sys.path[0]
        stop_read, stop_write = os.pipe()
        stopper = _start(self._stop_on_eof, stop_write)
        try:
            sandbox_watch.watch(*argv, stop_fd=stop_read, send=lambda data: self.send(fd=1, data=data))
        except (OSError, ValueError) as exc:
            return self._failed(exc)
        finally:
            self.stdin.put(None)  # the stopper ends (if stdin has not already), then its pipe closes
            _join(stopper)
            os.close(stop_read)
            os.close(stop_write)
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        return 0

    def _stop_on_eof(self, stop_write: int) -> None:
        while self.stdin.get() is not None:  # a watch reads nothing from its stdin but its end
            pass
        os.write(stop_write, b".")

    def _failed(self, exc: OSError | ValueError) -> int:
        """A built-in's error, as the SDK reads it (its type and errno, in JSON on stderr)."""
        error = {"type": type(exc).__name__, "message": str(exc), "errno": getattr(exc, "errno", None)}
        self.send(fd=2, data=to_json(error).encode("utf-8", "backslashreplace"))
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        return 1

    def _builtin(self) -> int:
        ops: dict[str, Callable[..., bytes]] = {
            "read": _read, "write": self._write, "ls": _ls, "mkdir": _mkdir, "rm": _rm, "connect": _connect,
            "stat": _stat, "list": _list,
        }  # fmt: skip
        try:
            out = ops[self.down.builtin](*self.down.argv)
        except (OSError, ValueError) as exc:
            return self._failed(exc)
        for start in range(0, len(out), CHUNK):
            self.send(fd=1, data=out[start : start + CHUNK])
        self.send(fd=1, eof=True)
        self.send(fd=2, eof=True)
        return 0

    def _write(self, path: str, mode: str) -> bytes:
        chunks = []
        while (data := self.stdin.get()) is not None:
            chunks.append(data)
        with open(path, mode.replace("b", "").replace("+", "") + "b") as f:
            f.write(b"".join(chunks))
        return b""


def _read(path: str, offset: str = "0", size: str = "-1") -> bytes:
    with open(path, "rb") as f:
        f.seek(int(offset))
        return f.read(int(size))


def _ls(path: str) -> bytes:
    return to_json(sorted(os.listdir(path))).encode("utf-8", "backslashreplace")


def _mkdir(path: str, parents: str) -> bytes:
    if parents == "1":
        os.makedirs(path, exist_ok=True)
    else:
        os.mkdir(path)
    return b""


def _connect(port: str) -> bytes:
    """A readiness probe (Probe.with_tcp): does something in the sandbox accept connections on the port?"""
    import socket

    with socket.create_connection(("127.0.0.1", int(port)), timeout=1):
        return b""


def _describe(path: str, name: str) -> dict[str, Any]:
    """What Sandbox.filesystem's FileInfo holds (the time in ns: the agent sends no floats)."""
    import stat

    st = os.lstat(path)
    kind = "symlink" if stat.S_ISLNK(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else "file"
    owner, group = str(st.st_uid), str(st.st_gid)
    try:
        import grp
        import pwd

        owner, group = pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name
    except (ImportError, KeyError):  # no such user in the image: the number
        pass
    return {
        "name": name, "path": path, "type": kind, "size": st.st_size, "mode": st.st_mode,
        "permissions": stat.filemode(st.st_mode), "owner": owner, "group": group, "mtime_ns": st.st_mtime_ns,
        "symlink_target": os.readlink(path) if kind == "symlink" else None,
    }  # fmt: skip


def _stat(path: str) -> bytes:
    return to_json(_describe(path, os.path.basename(path.rstrip("/")) or "/")).encode("utf-8", "backslashreplace")


def _list(path: str) -> bytes:
    entries = [_describe(os.path.join(path, name), name) for name in sorted(os.listdir(path))]
    return to_json(entries).encode("utf-8", "backslashreplace")


def _rm(path: str, recursive: str) -> bytes:
    if os.path.isdir(path) and not os.path.islink(path):
        if recursive == "empty":  # Sandbox.filesystem.remove: an empty directory goes, as rmdir(1)
            os.rmdir(path)
            return b""
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
        """Wake wait(): no lock, so that the SIGTERM handler may call it too."""
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
            _start(self._run, run)
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


def _await_assignment(link: Link) -> bool:
    """Booted ahead of need: wait for the sandbox this container becomes, and take on its
    environment (the worker's, as a cold start's would be). False if the worker let it go."""
    # Until then a stop needs no care: nothing of anyone's runs here yet.
    _signal.signal(_signal.SIGTERM, lambda signum, frame: os._exit(128 + _signal.SIGTERM))
    frame = link.receive_fields()
    if frame is None or not isinstance(frame[0].get(ASSIGNMENT_ENV), dict):
        return False
    os.environ.clear()
    os.environ.update(frame[0][ASSIGNMENT_ENV])
    return True


def main(booted: bool = False) -> int:
    for fd in (0, 1, 2):  # the commands' pipes must not take these numbers (posix_spawn's dup2)
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    link = Link(os.environ[SOCKET_ENV])
    if booted and not _await_assignment(link):
        return 0
    agent = Agent(link, os.environ.get("NANO_MODAL_CONTAINER_ID", ""))
    # Stopped by the worker: take every command down with the sandbox.
    _signal.signal(_signal.SIGTERM, lambda signum, frame: agent.end(128 + _signal.SIGTERM))
    _start(agent.serve)
    return agent.wait()


if __name__ == "__main__":
    sys.exit(main())
