"""Volumes in a container of a function defined with the real `modal` client.

Modal's entrypoint commits a mounted volume (`Volume.commit()`, and at its normal exit) and
reloads it (`Volume.reload()`) with the VolumeCommit and VolumeReload methods, which in
Modal's cloud ask the worker that holds the container's filesystem (which also commits what
a container killed on its way out had written). Here the container holds its copy itself,
as nano-modal's own containers do (_volume_sync.py), in two processes:

* this module's `main` (the container's first process, exec'd by modal_entrypoint.py) syncs
  the volumes, runs Modal's entrypoint as its child, and when that ends (done, or killed by
  the worker's SIGTERM, which Modal's entrypoint does not handle for functions) commits
  every writable mount once more: Modal's commit at exit, for every way out;
* the child (`--entrypoint`) answers VolumeCommit and VolumeReload for the volumes it
  mounts from the local copy, by wrapping them on the client's stub (any other volume's
  go to the server, which refuses them as Modal does), and runs Modal's entrypoint as
  `__main__`. Both processes take each mount's lock for every sync.

Modal's `ContainerArguments` are at MODAL_CONTAINER_ARGUMENTS_PATH.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from typing import Any

from .. import _volume_sync, config
from .._utils.aio import run_blocking, run_in_background
from ..client import Client
from ..proto import api_pb2 as npb
from .entrypoint import start_agent_on_signal
from .modal_entrypoint import VOLUMES_MODULE, module_argv
from .modal_stop import run_modal_entrypoint

ENTRYPOINT_FLAG = "--entrypoint"  # the child that runs Modal's entrypoint


def nano_mounts(function: Any) -> list[npb.VolumeMount]:
    """A Modal function's volume mounts, as nano-modal's sync takes them."""
    return [
        npb.VolumeMount(mount_path=m.mount_path, volume_id=m.volume_id, read_only=m.read_only)
        for m in function.volume_mounts
    ]


async def _commit(volume_id: str) -> None:
    client = await Client.get()
    for mount in _volume_sync.mounts_of(volume_id):
        if not mount.read_only:  # Modal commits every mount at exit: a read-only one has nothing to send
            await _volume_sync.commit_mount(client, mount)


async def _reload(volume_id: str) -> None:
    client = await Client.get()
    for mount in _volume_sync.mounts_of(volume_id):
        await _volume_sync.reload_mount(client, mount)


class _Local:
    """One of the stub's methods, answered here for the volumes this container mounts."""

    def __init__(self, remote: Any, local: Any, response: Any) -> None:
        self.remote = remote
        self.local = local
        self.response = response

    async def __call__(self, request: Any, **kwargs: Any) -> Any:
        if not _volume_sync.mounts_of(request.volume_id):
            return await self.remote(request, **kwargs)
        await run_in_background(self.local(request.volume_id))  # where nano-modal's client lives
        return self.response()


def _modal(module: str) -> Any:
    """A module of the optional `modal` package (Any: it is not installed where types are checked)."""
    importlib.import_module("modal")  # first: modal_proto's stub module imports modal back
    return importlib.import_module(module)


def _answer_volume_methods_here() -> None:
    api_pb2, stubs = _modal("modal_proto.api_pb2"), _modal("modal_proto.modal_api_grpc")
    original = stubs.ModalClientModal.__init__

    def init(stub: Any, *args: Any, **kwargs: Any) -> None:
        original(stub, *args, **kwargs)
        stub.VolumeCommit = _Local(stub.VolumeCommit, _commit, api_pb2.VolumeCommitResponse)
        stub.VolumeReload = _Local(stub.VolumeReload, _reload, _modal("google.protobuf.empty_pb2").Empty)

    stubs.ModalClientModal.__init__ = init


def _function() -> Any:
    with open(os.environ["MODAL_CONTAINER_ARGUMENTS_PATH"], "rb") as f:
        return _modal("modal_proto.api_pb2").ContainerArguments.FromString(f.read()).function_def


def run_entrypoint() -> None:
    _volume_sync.attach_mounts(nano_mounts(_function()))
    _answer_volume_methods_here()
    run_modal_entrypoint()  # a stop (SIGTERM) runs the class's exit hooks, then this process commits


def main() -> None:
    run_blocking(_volume_sync.setup_mounts(nano_mounts(_function())))
    # The worker stops a container with SIGTERM to its process group: the child ends, this
    # process commits. (Its SIGKILL after the grace period still ends a hung commit.)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    # `modal container exec`: the worker's SIGUSR2 reaches this, the first process (modal_main.py).
    signal.signal(signal.SIGUSR2, start_agent_on_signal)
    child = subprocess.run(module_argv(VOLUMES_MODULE, ENTRYPOINT_FLAG), check=False)
    failed = run_blocking(_volume_sync.commit_on_exit())  # each failure already said on stderr
    sys.stderr.flush()
    os._exit(config.EXIT_VOLUME_COMMIT_FAILED if failed else max(child.returncode, 0))


if __name__ == "__main__":
    if sys.argv[1:] == [ENTRYPOINT_FLAG]:
        run_entrypoint()
    else:
        main()
