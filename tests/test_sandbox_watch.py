"""Sandbox.filesystem.watch (nano_modal/_sandbox_fs.py; the agent's inotify watch,
container/sandbox_watch.py) and Sandbox._experimental_stats (server/sandboxes.py), on a real
server and worker (process runtime)."""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Iterator

import pytest

import nano_modal
from nano_modal.exception import InvalidError, NotFoundError, SandboxFilesystemNotFoundError
from nano_modal.types import FileWatchEvent, FileWatchEventType
from tests.conftest import Cluster
from tests.helpers import wait_for

app = nano_modal.App("sandbox-watch-tests")
DONE = "done.marker"  # its creation ends a watch of the tests below


@pytest.fixture(scope="module")
def sb(cluster: Cluster) -> Iterator[nano_modal.Sandbox]:
    with app.run(show_logs=False):
        sandbox = nano_modal.Sandbox.create(app=app, timeout=600)
        yield sandbox
        sandbox.terminate()


@pytest.fixture
def root(sb: nano_modal.Sandbox) -> Iterator[str]:
    """A fresh directory of the sandbox, removed after the test."""
    path = f"/tmp/watch-{uuid.uuid4().hex}"
    sb.filesystem.make_directory(path)
    yield path
    sb.filesystem.remove(path, recursive=True)


class Collector:
    """Iterates a watch on a thread until an event names DONE; what it saw, in order."""

    def __init__(self, events: Iterator[FileWatchEvent]) -> None:
        self.seen: list[FileWatchEvent] = []
        self.error: BaseException | None = None  # what the iteration raised, if it did
        self.thread = threading.Thread(target=self._run, args=(events,), daemon=True)
        self.thread.start()

    def _run(self, events: Iterator[FileWatchEvent]) -> None:
        try:
            for event in events:
                self.seen.append(event)
                if any(p.endswith(DONE) for p in event.paths):
                    break
        except BaseException as exc:
            self.error = exc

    def armed(self, sb: nano_modal.Sandbox, root: str) -> None:
        """Touch files until the watch reports one: it is watching from then on."""
        n = 0

        def touched() -> bool:
            nonlocal n
            n += 1
            sb.filesystem.write_text("", f"{root}/ready-{n}")
            return any("ready-" in p for e in list(self.seen) for p in e.paths)

        assert wait_for(touched, timeout=60, interval=0.2)

    def after_ready(self) -> list[tuple[FileWatchEventType, list[str]]]:
        """Events of the scenario: after the arming files', but the end marker's."""
        self.thread.join(60)
        assert not self.thread.is_alive()
        return [(e.type, e.paths) for e in self.seen if not any("ready-" in p or DONE in p for p in e.paths)]


def test_watch_reports_creation_change_rename_and_removal(sb: nano_modal.Sandbox, root: str) -> None:
    collector = Collector(sb.filesystem.watch(root, recursive=True))
    collector.armed(sb, root)
    sb.exec("sh", "-c", f"printf x > {root}/a.txt; mv {root}/a.txt {root}/b.txt; mkdir {root}/sub").wait()
    sb.filesystem.write_text("nested", f"{root}/sub/c.txt")  # recursive: the new directory is watched
    sb.filesystem.remove(f"{root}/b.txt")
    sb.filesystem.write_text("", f"{root}/{DONE}")
    seen = collector.after_ready()
    assert (FileWatchEventType.Create, [f"{root}/a.txt"]) in seen
    assert (FileWatchEventType.Modify, [f"{root}/a.txt"]) in seen  # its data
    assert (FileWatchEventType.Access, [f"{root}/a.txt"]) in seen  # closed after writing
    assert (FileWatchEventType.Modify, [f"{root}/a.txt", f"{root}/b.txt"]) in seen  # the rename, both sides
    assert (FileWatchEventType.Create, [f"{root}/sub"]) in seen
    assert (FileWatchEventType.Create, [f"{root}/sub/c.txt"]) in seen
    assert seen[-1] == (FileWatchEventType.Remove, [f"{root}/b.txt"])
    assert [kind for kind, paths in seen if paths == [f"{root}/b.txt"]] == [FileWatchEventType.Remove]


def test_watch_filters_kinds_and_stays_in_its_directory(sb: nano_modal.Sandbox, root: str) -> None:
    sb.filesystem.make_directory(f"{root}/deeper")
    collector = Collector(sb.filesystem.watch(root, filter=[FileWatchEventType.Create]))
    collector.armed(sb, root)
    sb.filesystem.write_text("x", f"{root}/kept.txt")
    sb.filesystem.write_text("x", f"{root}/deeper/unseen.txt")  # not recursive: not reported
    sb.filesystem.remove(f"{root}/kept.txt")  # a Remove: filtered out
    sb.filesystem.write_text("", f"{root}/{DONE}")
    assert collector.after_ready() == [(FileWatchEventType.Create, [f"{root}/kept.txt"])]


def test_watch_ends_at_its_timeout_and_refuses_what_is_not_there(sb: nano_modal.Sandbox, root: str) -> None:
    assert list(sb.filesystem.watch(root, timeout=1)) == []  # nothing changed: it ends, without an error
    with pytest.raises(SandboxFilesystemNotFoundError):
        list(sb.filesystem.watch(f"{root}/nothing-here"))
    with pytest.raises(InvalidError, match="absolute path"):
        list(sb.filesystem.watch("relative"))


def test_sandbox_stats_are_its_run_and_what_it_reserved(cluster: Cluster) -> None:
    with app.run(show_logs=False):
        created = datetime.datetime.now(datetime.UTC)
        sb = nano_modal.Sandbox.create(app=app, cpu=0.5, memory=256, timeout=600)
        sb.exec("true").wait()
        sb.terminate(wait=True)
        ended = datetime.datetime.now(datetime.UTC)
        stats = sb._experimental_stats()
        seconds = stats.duration.total_seconds()  # (a timedelta: to the microsecond)
        assert created <= stats.since < stats.until and 0 < seconds <= (ended - created).total_seconds()
        assert stats.billed_cpu_core_seconds == pytest.approx(0.5 * seconds, abs=1e-6)
        assert stats.billed_memory_gib_seconds == pytest.approx(0.25 * seconds, abs=1e-6)
        assert (stats.percentile_stats, stats.cost, stats.cost_by_resource) == ({}, None, {})
        # Later than its end, the window holds none of its run; the whole of it, all.
        later = sb._experimental_stats(since=ended)
        assert later.duration == datetime.timedelta(0)
        whole = sb._experimental_stats(since=created - datetime.timedelta(hours=1), until=ended)
        assert whole.duration == stats.duration
        with pytest.raises(InvalidError, match="before"):
            sb._experimental_stats(since=ended, until=created)
        with pytest.raises(NotFoundError):
            nano_modal.Sandbox.from_id("sb-not-a-sandbox")._experimental_stats()


def test_watch_ends_with_its_sandbox(cluster: Cluster) -> None:
    with app.run(show_logs=False):
        doomed = nano_modal.Sandbox.create(app=app, timeout=600)
        path = f"/tmp/watch-{uuid.uuid4().hex}"
        doomed.filesystem.make_directory(path)
        collector = Collector(doomed.filesystem.watch(path))  # no timeout
        collector.armed(doomed, path)
        doomed.terminate(wait=True)
        collector.thread.join(60)
        assert not collector.thread.is_alive()  # the iteration ended, without an error
        assert collector.error is None
