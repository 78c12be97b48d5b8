"""A function's forked children live beside the SDK's gRPC threads (container/_site.py).

gRPC's fork support ran its handlers in every child a function forked; about 1 in 40 children
started with a preexec_fn died of SIGABRT before its exec. The container's own gRPC now loads
with it off, and the user's code sees its environment as the worker gave it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cluster
from tests.helpers import run_script

FORKS_TRIED = 400  # before the fix: 10 of 400 killed, in one run

SCRIPT = """
import json, sys
import nano_modal

app = nano_modal.App("container-forks")

@app.function(serialized=True, timeout=300)
def fork(n):
    import collections, os, subprocess
    codes = collections.Counter(
        subprocess.run(["/bin/true"], preexec_fn=lambda: None).returncode for _ in range(n)
    )
    return {"codes": dict(codes), "env": os.environ.get("GRPC_ENABLE_FORK_SUPPORT")}

with app.run(show_logs=False):
    print("RESULT " + json.dumps(fork.remote(int(sys.argv[1]))))
"""


def test_a_functions_subprocesses_survive_the_sdks_grpc_threads(cluster: Cluster, tmp_path: Path) -> None:
    run = run_script(tmp_path, SCRIPT, str(FORKS_TRIED), env=cluster.env(), timeout=300)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stdout + run.stderr
    seen = json.loads(lines[-1].removeprefix("RESULT "))
    assert seen == {"codes": {"0": FORKS_TRIED}, "env": None}
