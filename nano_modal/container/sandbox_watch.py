"""The sandbox agent's `watch` built-in (Sandbox.filesystem.watch): a path's changes, one JSON
line per event on the exec's stdout, until its timeout, its stdin's end, or its kill.

Linux inotify, called through ctypes (the agent runs in the image's own Python, which may have
no third-party package): the kernel reports each change as it happens, so a watch costs no CPU
while nothing changes, sees a file created and removed between two looks (polling would not),
and needs no interval to tune. gVisor implements inotify too. Events are named as Modal's
(which come from the Rust `notify` crate's inotify backend, with its default mask): creation
Create, deletion Remove, data or metadata change Modify, a file closed after writing Access, a
rename Modify with [source, destination] (or the one side in the watched scope).

Loaded only when a watch starts (sandbox_agent.py imports next to nothing at start-up), so it
may use any module of the standard library; it must not import nano_modal (not in the image).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import select
import struct
import time
from collections.abc import Callable

# <sys/inotify.h>
IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_CLOEXEC = os.O_CLOEXEC
# What `notify` watches by default, hence what Modal reports.
WATCH_MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
    | IN_MOVE_SELF
)  # fmt: skip
KINDS = (  # first match wins
    (IN_CREATE, "Create"),
    (IN_DELETE | IN_DELETE_SELF, "Remove"),
    (IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF, "Modify"),
    (IN_CLOSE_WRITE, "Access"),
)
EVENT_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of NUL-padded name)
READ_SIZE = 64 * 1024  # bytes of events per read(2): hundreds of events


class Watcher:
    """One inotify instance watching a path (a file, a directory, or with `recursive` a tree)."""

    def __init__(self, path: str, recursive: bool) -> None:
        self.root = os.path.realpath(path)  # a symlink is followed: events name the target's paths
        self.recursive = recursive
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(IN_CLOEXEC)
        if self.fd < 0:
            self._raise(self.root)
        self.paths: dict[int, str] = {}  # watch descriptor -> the path it watches
        try:
            self._add(self.root)
            if recursive and os.path.isdir(self.root):
                self._add_tree(self.root)
        except BaseException:
            os.close(self.fd)
            raise

    def _raise(self, path: str) -> None:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)

    def _add(self, path: str) -> None:
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), WATCH_MASK)
        if wd < 0:
            self._raise(path)
        self.paths[wd] = path

    def _add_tree(self, top: str) -> None:
        for parent, dirs, _ in os.walk(top):
            for name in dirs:
                with contextlib.suppress(OSError):  # gone meanwhile, or unreadable: the rest is still watched
                    self._add(os.path.join(parent, name))

    def events(self, data: bytes) -> list[tuple[str, list[str]]]:
        """The (kind, paths) of a read's events; a rename's two halves (same cookie) become one."""
        found: list[tuple[str, list[str]]] = []
        moved_from: dict[int, int] = {}  # cookie -> index in `found` of its half-rename
        offset = 0
        while offset + EVENT_HEADER.size <= len(data):
            wd, mask, cookie, size = EVENT_HEADER.unpack_from(data, offset)
            raw_name = data[offset + EVENT_HEADER.size : offset + EVENT_HEADER.size + size].rstrip(b"\0")
            offset += EVENT_HEADER.size + size
            if mask & IN_IGNORED:
                self.paths.pop(wd, None)
                continue
            base = self.paths.get(wd)
            if base is None or mask & IN_Q_OVERFLOW:
                continue
            path = os.path.join(base, os.fsdecode(raw_name)) if raw_name else base
            if mask & IN_MOVED_TO and cookie in moved_from:
                found[moved_from.pop(cookie)][1].append(path)
                continue
            if mask & (IN_MOVED_FROM | IN_MOVED_TO):
                if mask & IN_MOVED_FROM:
                    moved_from[cookie] = len(found)
                found.append(("Modify", [path]))
            else:
                kind = next((name for bits, name in KINDS if mask & bits), "Unknown")
                found.append((kind, [path]))
            if self.recursive and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                with contextlib.suppress(OSError):  # a new directory of the tree: watched, with what it holds
                    self._add(path)
                    self._add_tree(path)
        return found

    def close(self) -> None:
        os.close(self.fd)


def watch(path: str, recursive: str, kinds: str, timeout: str, stop_fd: int, send: Callable[[bytes], None]) -> None:
    """Send each event of a kind in `kinds` ("" for all; comma-separated) as a JSON line, until
    `timeout` seconds pass ("" for none) or `stop_fd` becomes readable."""
    if not path.startswith("/"):
        raise ValueError(f"watch needs an absolute path, got {path!r}")
    wanted = set(kinds.split(",")) if kinds else None
    watcher = Watcher(path, recursive == "1")
    deadline = time.monotonic() + float(timeout) if timeout else None
    try:
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return
            ready, _, _ = select.select([watcher.fd, stop_fd], [], [], wait)
            if stop_fd in ready:
                return
            if watcher.fd not in ready:
                continue
            lines = [
                json.dumps({"event_type": kind, "paths": paths}) + "\n"
                for kind, paths in watcher.events(os.read(watcher.fd, READ_SIZE))
                if wanted is None or kind in wanted
            ]
            if lines:
                send("".join(lines).encode("utf-8", "surrogateescape"))
    finally:
        watcher.close()
