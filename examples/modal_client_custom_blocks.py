"""Roboflow inference's custom Python blocks on nano-modal, with the real `modal` client (seed 000).

The executor app of that system, as its deploy script deploys it: one app, a class `Executor`
with one container pool per Roboflow workspace (`workspace_id = modal.parameter()`, given in
the endpoint's query: `...?workspace_id=acme`), `restrict_modal_access=True` (a block's code
may not use the platform's API: no dicts, secrets or other functions), a POST web endpoint
behind proxy auth that takes the block's code and its inputs as gzip'd JSON and answers JSON.
Roboflow's `ModalExecutor` (the `roboflow-workflows` package on PyPI) calls it unchanged:
tests/modal_compat/test_real_client_custom_blocks.py.

This file stands in for Roboflow's `modal/modal_app.py`, which is in their repository, not in
any package: the same Modal calls (`@app.cls(...)` options, `@modal.concurrent`,
`@modal.enter`, `@modal.fastapi_endpoint(method="POST", requires_proxy_auth=True)` taking the
raw request) and the same request and response fields. What differs: their image is
roboflow/roboflow-inference-server-cpu and their blocks start with numpy, cv2 and supervision
imported (here: the standard library), their inputs and results carry numpy/image markers
(here: plain JSON), and they also serve a WebSocket transport.

    modal deploy examples/modal_client_custom_blocks.py
    nano-modal token create-proxy          # the Modal-Key / Modal-Secret pair
    curl -X POST "<the printed Executor.execute_block URL>?workspace_id=acme" \\
        -H "Modal-Key: wk-..." -H "Modal-Secret: ws-..." \\
        -d '{"code_str": "def run(a, b):\\n    return a * b\\n", "run_function_name": "run",
             "inputs_json": "{\\"a\\": 6, \\"b\\": 7}"}'
"""

import contextlib
import gzip
import hashlib
import inspect
import io
import json
import time
import traceback
from typing import Any

import modal
from starlette.requests import Request

app = modal.App("webexec-roboflow-platform")  # the app name Roboflow's executor calls by default

# The names a block's code sees without importing them (Roboflow's preamble, minus its
# computer-vision packages).
BLOCK_PREAMBLE = "import json, math, os, time\nfrom typing import Any, Dict, List, Optional\n"


class BlockSelf:
    """What a block whose `run` takes `self` gets: the workflow's context."""

    def __init__(self, workflow_context: dict[str, Any]) -> None:
        self.workflow_context = workflow_context

    def get_workflow_context(self) -> dict[str, Any]:
        return dict(self.workflow_context)


@app.cls(
    image=modal.Image.debian_slim(python_version="3.11").pip_install("fastapi[standard]"),
    restrict_modal_access=True,
    timeout=20,
    enable_memory_snapshot=True,
    scaledown_window=60,
    buffer_containers=1,
    cloud="aws",
    region="us-east-1",
)
@modal.concurrent(max_inputs=10)
class Executor:
    workspace_id: str = modal.parameter()

    @modal.enter()
    def identify(self) -> None:
        print(f"Initializing sandbox for {self.workspace_id}")
        self.namespaces: dict[str, dict[str, Any]] = {}  # a block's compiled code, by its hash

    @modal.fastapi_endpoint(method="POST", requires_proxy_auth=True)
    async def execute_block(self, raw_request: Request) -> dict[str, Any]:
        body = await raw_request.body()
        if raw_request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = json.loads(body)
        code_str = request.get("code_str") or ""
        imports = request.get("imports") or []
        # A client that sent this block before sends only its hash (the same md5 as Roboflow's).
        code_hash = request.get("code_hash") or ""
        if code_str:
            code_hash = hashlib.md5((code_str + "\n" + "\n".join(imports)).encode()).hexdigest()
        namespace = self.namespaces.get(code_hash)
        if namespace is None:
            if not code_str:
                return {
                    "success": False,
                    "server_error": True,  # ours, not the block's: the client resends the code
                    "error_type": "UnknownCodeHash",
                    "error": f"code {code_hash} is not cached in this container; send the code",
                }
            namespace = {"__name__": "__main__"}
            try:
                exec(BLOCK_PREAMBLE + "\n".join(imports) + "\n" + code_str, namespace)
            except Exception as exc:
                return {
                    "success": False,
                    "error": f"Code initialization failed: {exc}",
                    "error_type": type(exc).__name__,
                }
            self.namespaces[code_hash] = namespace
        function = namespace.get(request.get("run_function_name") or "")
        if not callable(function):
            return {"success": False, "error": "the block defines no such function", "error_type": "NameError"}
        return run_block(
            function, json.loads(request.get("inputs_json") or "{}"), request.get("workflow_context") or {}
        )


def run_block(function: Any, inputs: dict[str, Any], workflow_context: dict[str, Any]) -> dict[str, Any]:
    """Run the block; what it printed and what it returned (as JSON text: anything else is
    turned into its string here, so nothing but plain data leaves the container)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    started = time.monotonic()
    takes_self = next(iter(inspect.signature(function).parameters), None) == "self"
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            result = function(BlockSelf(workflow_context), **inputs) if takes_self else function(**inputs)
        return {
            "success": True,
            "result": json.dumps(result, default=str),
            "stdout": stdout.getvalue() or None,
            "stderr": stderr.getvalue() or None,
            "execution_time_seconds": time.monotonic() - started,
        }
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return {
            "success": False,
            "error": str(exc),
            "error_type": type(exc).__name__,
            "line_number": frame.lineno,
            "function_name": frame.name,
            "stdout": stdout.getvalue() or None,
            "stderr": stderr.getvalue() or None,
            "execution_time_seconds": time.monotonic() - started,
        }
