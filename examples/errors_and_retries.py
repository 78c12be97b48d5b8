"""What failure looks like: remote exceptions, retries, timeouts and crashed containers.

    nano-modal run examples/errors_and_retries.py
"""

import os
import tempfile
import time

import nano_modal as modal

app = modal.App("errors-and-retries")


@app.function()
def parse(text: str) -> int:
    return int(text)


@app.function(retries=modal.Retries(max_retries=3, initial_delay=0.1))
def flaky(marker_dir: str) -> str:
    attempts = len(os.listdir(marker_dir))
    open(os.path.join(marker_dir, str(attempts)), "w").close()
    if attempts < 2:
        raise RuntimeError(f"transient failure #{attempts + 1}")
    return f"succeeded on attempt {attempts + 1}"


@app.function(timeout=1)
def too_slow() -> None:
    time.sleep(10)


@app.function()
def crash() -> None:
    os._exit(3)


@app.local_entrypoint()
def main() -> None:
    try:
        parse.remote("not a number")
    except ValueError as exc:
        print("ValueError came back:", exc)

    with tempfile.TemporaryDirectory() as markers:
        print(flaky.remote(markers))

    try:
        too_slow.remote()
    except modal.exception.FunctionTimeoutError as exc:
        print("timeout:", exc)

    try:
        crash.remote()
    except modal.exception.ContainerDiedError as exc:
        print("crash:", exc)
