"""The garbage collector in the long-lived processes (the server, the worker).

A full collection walks every object the process holds, most of them the modules imported at
start-up (SQLAlchemy, grpc, protobuf, the service's own): 40-65 ms of CPU in the server here,
during which its loop answers nobody (docs/BENCHMARKS.md, "Warm call tail"). Those objects
live as long as the process, so once it has started they are moved out of the collector's
sight (`gc.freeze`): later collections walk only what was made since.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Once start-up is done: collect what start-up left behind, then freeze the rest."""
    gc.collect()  # (garbage still tracked now would otherwise be kept for good)
    gc.freeze()
