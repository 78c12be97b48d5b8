"""`import modal` meaning nano_modal: for code that cannot change its import (third-party
libraries that `import modal`, programs run unchanged in a container).

In containers it is on by default: the shim directory (`_shim/`, holding a `modal` package)
comes first on sys.path, so it wins over a real `modal` an image may have installed (one that
could not work inside nano-modal). On the client it is opt-in: `nano_modal.install_as_modal()`.

`modal.X` is the very module `nano_modal.X` (not a second copy), so `modal.exception.NotFoundError`
is `nano_modal.exception.NotFoundError` and `except` clauses match either name.
"""

from __future__ import annotations

import os
import sys

# Only os and sys here: a function container imports this module at every cold start.
SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_shim")


def install_as_modal() -> None:
    """Make `import modal` (and `import modal.exception`, ...) give nano_modal in this process.

    Call it before importing a library that does `import modal`. Idempotent."""
    import importlib

    from ._modal_finder import ALIAS, TARGET, AliasFinder

    sys.modules[ALIAS] = importlib.import_module(TARGET)
    for name, module in list(sys.modules.items()):
        if name.startswith(TARGET + "."):
            sys.modules.setdefault(ALIAS + name[len(TARGET) :], module)
    if not any(isinstance(finder, AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, AliasFinder())


def expose_in_container() -> None:
    """Put the shim first on this container's sys.path, and on its child processes' PYTHONPATH."""
    if SHIM_DIR not in sys.path:
        sys.path.insert(0, SHIM_DIR)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != SHIM_DIR]
    os.environ["PYTHONPATH"] = os.pathsep.join([SHIM_DIR, *inherited])
