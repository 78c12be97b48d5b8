"""A Modal program, unchanged, run by the real `modal` client against nano-modal.

    pip install 'nano-modal[modal-compat]'     # server and worker: Modal's protocol and entrypoint
    export MODAL_SERVER_URL=http://127.0.0.1:50051 MODAL_TOKEN_ID=nm MODAL_TOKEN_SECRET=<admin token>
    modal run examples/modal_client_app.py

(docs/COMPATIBILITY.md, "The real modal client"; tests/modal_compat/ runs this file.)
"""

import modal

app = modal.App("nano-compat-demo")


@app.function()
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@app.function()
def fail() -> None:
    raise ValueError("raised in the container")


@app.local_entrypoint()
def main() -> None:
    print("remote:", square.remote(3))
    print("map:", list(square.map(range(10))))
    try:
        fail.remote()
    except ValueError as exc:
        print("caught:", exc)
