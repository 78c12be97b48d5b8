"""Sandbox.logs: the entrypoint's output, kept in its app's logs, without what exec() prints."""

from __future__ import annotations

import time
import uuid

import nano_modal
from tests.conftest import Cluster


def test_sandbox_logs_hold_the_entrypoints_output(cluster: Cluster) -> None:
    app = nano_modal.App.lookup(f"sandbox-logs-{uuid.uuid4().hex[:6]}", create_if_missing=True)
    sb = nano_modal.Sandbox.create("sh", "-c", "echo first; echo oops >&2; sleep 1; echo second", app=app, timeout=60)
    other = nano_modal.Sandbox.create("sh", "-c", "echo from another sandbox", app=app, timeout=60)
    exec_out = sb.exec("echo", "from exec").stdout.read()
    sb.wait()
    other.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # lines reach the server's store a moment after they are sent
        stdout = "".join(e.message for e in sb.logs.tail(source="stdout"))
        if "second" in stdout:
            break
        time.sleep(0.2)
    assert stdout.split() == ["first", "second"] and exec_out == "from exec\n"
    assert "".join(e.message for e in sb.logs.tail(source="stderr")).split() == ["oops"]
    entry = next(iter(sb.logs.tail(1)))
    assert entry.object_id == sb.object_id and entry.context_ids == [sb.object_id]
    again = nano_modal.Sandbox.from_id(sb.object_id)  # another handle: the same lines
    assert "".join(e.message for e in again.logs.tail(source="stdout")).split() == ["first", "second"]
