"""Modal's container entrypoint, run so that a container the worker stops runs its exit hooks.

The worker stops a container with SIGTERM (then SIGKILL after its grace period). Modal's
entrypoint shuts down gracefully on SIGINT instead (its event loop cancels the running work
and raises KeyboardInterrupt, which runs the class's `@modal.exit()` methods and the ASGI
lifespan's shutdown on the way out) and leaves SIGTERM unhandled: a stopped container would
just die. So SIGTERM is turned into SIGINT here, in the process that runs the entrypoint.
"""

from __future__ import annotations

import runpy
import signal
from types import FrameType

MODULE = "nano_modal.container.modal_stop"  # `python -m` this instead of Modal's entrypoint
MODAL_ENTRYPOINT = "modal._container_entrypoint"


def _stop_gracefully(signum: int, frame: FrameType | None) -> None:
    # Ignored while Modal's exit hooks run (it ignores SIGINT then): the container is stopping already.
    signal.raise_signal(signal.SIGINT)


def run_modal_entrypoint() -> None:
    signal.signal(signal.SIGTERM, _stop_gracefully)
    runpy.run_module(MODAL_ENTRYPOINT, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    run_modal_entrypoint()
