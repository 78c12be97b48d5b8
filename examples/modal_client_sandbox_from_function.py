"""Sandboxes made by a Modal function, with the real `modal` client from PyPI, against nano-modal
(docs/MODAL_CLIENT.md).

    export MODAL_SERVER_URL=http://127.0.0.1:50051 MODAL_TOKEN_ID=... MODAL_TOKEN_SECRET=...
    modal run examples/modal_client_sandbox_from_function.py

A function's container creates and drives sandboxes as a client does, in its own app and
workspace, as nano-modal's own containers do. A function with restrict_modal_access=True
may not.
"""

import modal

app = modal.App("modal-client-sandbox-from-function")


@app.function()
def run_code(code: str) -> dict:
    sb = modal.Sandbox.create("sleep", "300", timeout=300)  # in this function's app
    sb.set_tags({"made-by": "run_code"})
    p = sb.exec("python", "-c", code)
    result = {"stdout": p.stdout.read().strip(), "exit code": p.wait()}
    result["found by id"] = modal.Sandbox.from_id(sb.object_id).poll() is None
    result["listed"] = [s.object_id for s in modal.Sandbox.list(tags={"made-by": "run_code"})] == [sb.object_id]
    sb.terminate()
    sb.wait(raise_on_termination=False)
    result["returncode"] = sb.returncode
    return result


@app.function(restrict_modal_access=True)
def restricted() -> str:
    try:
        modal.Sandbox.create("true")
    except Exception as exc:
        return f"refused: {exc}"
    return "created"


@app.local_entrypoint()
def main():
    for key, value in run_code.remote("print(6 * 7)").items():
        print(f"{key}: {value}")
    print("restricted:", restricted.remote())
