"""The container's main program: say hello, load the user's code, serve inputs, clean up.

A load failure is reported once (every queued input fails with it) instead of looping
through restarts. @exit hooks run when the container is told to stop, or on SIGTERM.
SIGUSR2 (from the worker, for `nano-modal container exec`) starts the sandbox agent beside
the function: it runs commands inside this container, confined like the function itself.

Start-up time matters here (every cold start pays it), so this path imports only what the
function needs: volumes, classes, web endpoints and the SDK's App objects load on first use
(tests/container/test_entrypoint_imports.py holds that line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from .. import config
from ..proto import api_pb2
from ..serialization import serialize_exception
from . import _site
from .io import ContainerIO
from .loader import Target, load_target
from .runner import Runner
from .watchdog import Watchdog


def heartbeat_forever(io_: ContainerIO, watchdog: Watchdog) -> None:
    """Tell the server this container is alive, even while an input runs for a long time."""
    while True:
        time.sleep(config.CONTAINER_HEARTBEAT_INTERVAL)
        request = api_pb2.ContainerHeartbeatRequest(
            container_id=io_.container_id, running_input_ids=watchdog.running_ids()
        )
        try:
            io_.call("ContainerHeartbeat", request, timeout=10)
        except Exception as exc:  # the server may be restarting; the worker notices real deaths
            print(f"nano-modal: heartbeat failed: {exc}", file=sys.stderr)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    _exiting()
    raise SystemExit(0)  # unwinds the main loop so that @exit hooks run


def _exiting() -> None:
    """From here on the container is on its way out: a (further) SIGTERM must not cut short the
    exit hooks or the volume commit (it did: the commit's task was abandoned mid-way and its
    writes lost). The worker's SIGKILL after its grace period still ends a hung exit. A Python
    handler, not SIG_IGN: an ignored signal would stay ignored in processes the hooks start."""
    signal.signal(signal.SIGTERM, _ignore)


def _ignore(signum: int, frame: FrameType | None) -> None:
    pass


def start_agent_on_signal(signum: int, frame: FrameType | None) -> None:
    from .sandbox_agent import PYTHON_ARGS, SOCKET_ENV

    if os.environ.get(SOCKET_ENV):  # a thread: the handler itself must return at once
        argv = [sys.executable, *PYTHON_ARGS]
        threading.Thread(target=_run_agent, args=(argv,), name="nano-modal-agent", daemon=True).start()


def _run_agent(argv: list[str]) -> None:
    devnull = subprocess.DEVNULL  # the function's logs stay its own; the agent talks over its socket
    subprocess.run(argv, stdin=devnull, stdout=devnull, stderr=devnull, start_new_session=True, check=False)


def main() -> None:
    if os.environ.get(config.ENV_MODAL_BUNDLE):  # defined with the real modal client: its entrypoint
        from . import modal_entrypoint

        modal_entrypoint.run()
    signal.signal(signal.SIGUSR2, start_agent_on_signal)
    io_ = ContainerIO()
    hello = io_.hello()
    definition = hello.definition
    try:
        if definition.volume_mounts:  # first: module-level code may already read them
            from .. import _volume_sync
            from .._utils.aio import run_blocking

            run_blocking(_volume_sync.setup_mounts(definition.volume_mounts))
        _site.finish()  # the .pth hooks `python -S` left out: the user's code sees what site sets up
        target = Target(definition, load_target(io_, definition))
        app_module = sys.modules.get("nano_modal.app")  # loaded if the user's code made an App
        if app_module is not None:
            app_module.hydrate_in_container(dict(hello.app_function_ids))
        target.run_hooks(enter=True)
    except BaseException as exc:
        data, text, tb = serialize_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
        print(f"nano-modal: could not load {definition.name}:\n{tb}", file=sys.stderr, flush=True)
        request = api_pb2.ContainerInitFailedRequest(
            container_id=io_.container_id, exception=io_.payload(data), exception_repr=text, traceback=tb
        )
        io_.call("ContainerInitFailed", request)
        sys.exit(1)
    runner = Runner(io_, definition, target)
    threading.Thread(
        target=heartbeat_forever, args=(io_, runner.watchdog), name="nano-modal-heartbeat", daemon=True
    ).start()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        runner.serve()
        _exiting()  # told to stop (a SIGTERM may follow at once): the exit path runs to its end
        runner.flush()
    finally:
        _exiting()
        try:
            target.run_hooks(enter=False)
        finally:
            _commit_volumes_on_exit()
            _close_sdk_client()


def _commit_volumes_on_exit() -> None:
    """Modal commits volumes when a container exits. The process exits only once the commit is
    done, so the worker reports the exit after it; a commit that fails ends the process with
    EXIT_VOLUME_COMMIT_FAILED, which the worker reports as the container's exit reason."""
    volume_sync = sys.modules.get("nano_modal._volume_sync")  # loaded if any volume is mounted
    if volume_sync is None or not volume_sync.all_mounts():
        return
    from .._utils.aio import run_blocking

    failed = run_blocking(volume_sync.commit_on_exit())
    if failed:
        sys.stderr.flush()
        os._exit(config.EXIT_VOLUME_COMMIT_FAILED)  # not SystemExit: a `finally` above must not mask it


def _close_sdk_client() -> None:
    """The SDK's connection, if the function (or a volume) used it: closed while its event loop
    still runs, so that the container's log does not end in "Task was destroyed but it is pending!"."""
    client_module = sys.modules.get("nano_modal.client")
    if client_module is not None:
        client_module.close_current()
