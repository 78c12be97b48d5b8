"""Modal's own client protocol (`modal.client.ModalClient`), served beside nano-modal's.

The real `modal` client from PyPI (1.5.x or 1.6.x) speaks gRPC to `MODAL_SERVER_URL`. Its messages
are defined by the `modal_proto` package that ships in the `modal` wheel; this package
imports them at run time, only when they are installed (`pip install 'nano-modal[modal-compat]'`),
and maps each served method onto nano-modal's own control plane (apps, functions, calls,
containers, blobs), so that `modal run` of an app runs on nano-modal's workers.
"""

from __future__ import annotations

from .handler import ModalClientHandler, attach, load_protocol

__all__ = ["ModalClientHandler", "attach", "load_protocol"]
