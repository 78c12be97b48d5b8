"""`import modal` meaning nano_modal: for code that cannot change its import (third-party
libraries that `import modal`, programs run unchanged in a container).

In containers it is on by default: the shim directory (`_shim/`, holding a `modal` package)
comes first on sys.path, so it wins over a real `modal` an image may have installed (one that
could not work inside nano-modal). On the client it is opt-in: `nano_modal.install_as_modal()`.

`modal.X` is the very module `nano_modal.X` (not a second copy), so `modal.exception.NotFoundError`
is `nano_modal.exception.NotFoundError` and `except` clauses match either name.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

ALIAS = "modal"
TARGET = "nano_modal"
SHIM_DIR = str(Path(__file__).resolve().parent / "_shim")


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `modal.X` as `nano_modal.X`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS) :]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(TARGET + spec.name[len(ALIAS) :])

    def exec_module(self, module: ModuleType) -> None:
        pass  # the nano_modal module ran when it was imported


def install_as_modal() -> None:
    """Make `import modal` (and `import modal.exception`, ...) give nano_modal in this process.

    Call it before importing a library that does `import modal`. Idempotent."""
    package = importlib.import_module(TARGET)
    sys.modules[ALIAS] = package
    for name, module in list(sys.modules.items()):
        if name.startswith(TARGET + "."):
            sys.modules.setdefault(ALIAS + name[len(TARGET) :], module)
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())


def expose_in_container() -> None:
    """Put the shim first on this container's sys.path, and on its child processes' PYTHONPATH."""
    if SHIM_DIR not in sys.path:
        sys.path.insert(0, SHIM_DIR)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != SHIM_DIR]
    os.environ["PYTHONPATH"] = os.pathsep.join([SHIM_DIR, *inherited])
