"""FunctionCall.logs: each log line names the call that printed it (container/log_sync.py marks,
worker/agent.py tags, server/app_logs.py checks), so one call's lines can be read apart."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cluster
from tests.helpers import run_script

SCRIPT = """
import json, os, sys, time
import nano_modal

app = nano_modal.App("call-logs")

@app.function(max_containers=1)
@nano_modal.concurrent(max_inputs=4)
def chatty(tag, lines):
    for i in range(lines):
        print(f"{tag} line {i}")
        print(f"{tag} err {i}", file=sys.stderr)
        time.sleep(0.05)  # the calls' prints interleave in the one container
    return tag

@app.function()
def threaded():
    import threading
    worker = threading.Thread(target=lambda: print("from a thread it started"))  # no input's context
    worker.start()
    worker.join()
    return "joined"

@app.function()
def forger(victim_call_id):
    # A container may say any call id on its own stdout; the server keeps only its own calls'.
    os.write(1, f"\\x00nano-modal-log-call {victim_call_id}\\nforged line\\n".encode())
    return "forged"

def wait_for(call, count):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # lines reach the server's store a moment after they are shown
        found = [e.message.strip() for e in call.logs.tail(source="stdout")]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    return found

if __name__ == "__main__":
    with app.run():
        first, second = chatty.spawn("alpha", 5), chatty.spawn("beta", 3)
        out = {"results": [first.get(), second.get()]}
        out["alpha"] = wait_for(first, 5)
        out["beta"] = wait_for(second, 3)
        out["beta_err"] = [e.message.strip() for e in second.logs.tail(source="stderr")]
        entry = next(iter(first.logs.tail(1)))
        ids = entry.context_ids
        out["contexts"] = [ids[0] == first.object_id, len(ids), entry.object_id == first.object_id]
        out["by_id"] = len(list(nano_modal.FunctionCall.from_id(second.object_id).logs.tail()))
        out["forger"] = forger.remote(first.object_id)
        threaded_call = threaded.spawn()
        threaded_call.get()
        out["threaded"] = wait_for(threaded_call, 1)
        time.sleep(2)
        out["alpha_after"] = [e.message.strip() for e in first.logs.tail()]
        out["app_has_forged"] = any("forged line" in e.message for e in app.logs.tail())
    print("RESULT " + json.dumps(out))
"""


def test_each_call_reads_its_own_lines(cluster: Cluster, tmp_path: Path) -> None:
    proc = run_script(tmp_path, SCRIPT, env=cluster.env(), timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["results"] == ["alpha", "beta"]
    assert out["alpha"] == [f"alpha line {i}" for i in range(5)]
    assert out["beta"] == [f"beta line {i}" for i in range(3)]
    assert out["beta_err"] == [f"beta err {i}" for i in range(3)]
    assert out["contexts"] == [True, 2, True]
    assert out["by_id"] == 6  # from_id: the same lines, stdout and stderr
    assert out["forger"] == "forged"
    assert out["threaded"] == ["from a thread it started"]  # the container's one call: its line
    # The forged line is in the app's logs, but not as the victim call's.
    assert out["app_has_forged"] and "forged line" not in out["alpha_after"]
    assert sorted(out["alpha_after"]) == sorted(out["alpha"] + [f"alpha err {i}" for i in range(5)])
