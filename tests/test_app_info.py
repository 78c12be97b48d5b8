"""App.info() and the logs managers of apps and functions (nano_modal/_app_info.py, _logs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nano_modal
from nano_modal.exception import ExecutionError
from tests.conftest import Cluster
from tests.helpers import run_script

SCRIPT = """
import datetime, json, sys, time
import nano_modal
from nano_modal.types import AppState

app = nano_modal.App("info-and-logs")

@app.function()
def chatty(x):
    print(f"out {x}")
    print(f"err {x}", file=sys.stderr)
    return x

@app.function()
def quiet(x):
    return x

@app.function(cpu=0.5, memory=256, timeout=30, retries=2, block_network=True)
@nano_modal.concurrent(max_inputs=3)
def configured(x):
    return x

if __name__ == "__main__":
    started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    with app.run():
        chatty.remote(7)
        quiet.remote(1)
        info = app.info()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # lines reach the server's store a moment after they are shown
            if len(list(chatty.logs.tail(source="stdout"))) and len(list(app.logs.tail(source="stderr"))):
                break
            time.sleep(0.2)
        out = {
            "state": info.lifecycle.state is AppState.EPHEMERAL,
            "id": info.app_id == app.app_id,
            "name": info.description,
            "functions": sorted(info.functions),
            "function_ids": info.functions["chatty"] == chatty.object_id,
            "stdout": [e.message.strip() for e in chatty.logs.tail(source="stdout")],
            "stderr": [str(e).strip() for e in app.logs.tail(source="stderr")],
            "quiet": [e.message for e in quiet.logs.tail()],
            "fetched": [e.message.strip() for e in app.logs.fetch(since=started, search_text="out")],
            "none_before": list(app.logs.fetch(since=started - datetime.timedelta(hours=1), until=started)),
            "last": [e.message.strip() for e in app.logs.tail(1, source="stdout")],
            "configured": (lambda i: [i.cpu, i.memory_mib, i.timeout, i.max_retries, i.block_network, i.gpus,
                i.concurrency_info.max_inputs, i.schedule, i.method_names, i.nonpreemptible])(configured.info()),
            "plain": (lambda i: [i.cpu, i.image_info.image_id, i.batching_info, i.web_info])(quiet.info(refresh=True)),
            "entry": (lambda e: [e.object_id == chatty.object_id, e.source, len(e.context_ids)])(
                next(iter(chatty.logs.tail(source="stdout")))
            ),
        }
    print("RESULT " + json.dumps(out))
"""


def test_info_and_logs_of_a_running_app(cluster: Cluster, tmp_path: Path) -> None:
    proc = run_script(tmp_path, SCRIPT, env=cluster.env(), timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["state"] and out["id"] and out["name"] == "info-and-logs"
    assert out["functions"] == ["chatty", "configured", "quiet"] and out["function_ids"]
    assert out["configured"] == [0.5, 256, 30, 2, True, [], 3, None, None, True]
    assert out["plain"] == [None, None, None, None]
    assert out["stdout"] == ["out 7"] and out["stderr"] == ["err 7"] and out["quiet"] == []
    assert out["fetched"] == ["out 7"] and out["none_before"] == [] and out["last"] == ["out 7"]
    assert out["entry"] == [True, "stdout", 2]  # the call that printed it, then the container


def test_an_app_that_is_not_running_says_so(cluster: Cluster) -> None:
    app = nano_modal.App("never-run")
    with pytest.raises(ExecutionError, match="not running"):
        app.info()
    with pytest.raises(ExecutionError, match="not running"):
        list(app.logs.tail())
    with pytest.raises(nano_modal.exception.InvalidError, match="negative"):
        list(app.logs.tail(-1))
