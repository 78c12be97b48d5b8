"""What failure looks like: remote exceptions, retries, timeouts and crashed containers.

    nano-modal run examples/errors_and_retries.py
"""

import os
import time

import nano_modal as modal

app = modal.App("errors-and-retries")


@app.function()
def parse(text: str) -> int:
    return int(text)


@app.function(retries=modal.Retries(max_retries=3, initial_delay=0.1))
def flaky(attempts: modal.Dict) -> str:
    # Containers share nothing with each other or the caller but what they are given: the
    # attempt counter lives in a Dict that every attempt sees.
    attempt = attempts.get("n", 0) + 1
    attempts["n"] = attempt
    if attempt < 3:
        raise RuntimeError(f"transient failure #{attempt}")
    return f"succeeded on attempt {attempt}"


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

    with modal.Dict.ephemeral() as attempts:
        print(flaky.remote(attempts))

    try:
        too_slow.remote()
    except modal.exception.FunctionTimeoutError as exc:
        print("timeout:", exc)

    try:
        crash.remote()
    except modal.exception.ContainerDiedError as exc:
        print("crash:", exc)
