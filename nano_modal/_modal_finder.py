"""The import hook behind `install_as_modal()`: `modal.X` found as the module `nano_modal.X`."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
from collections.abc import Sequence
from types import ModuleType

ALIAS = "modal"
TARGET = "nano_modal"


class AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `modal.X` as `nano_modal.X` (the same module object, not a copy)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(ALIAS + "."):
            return None
        if importlib.util.find_spec(TARGET + fullname[len(ALIAS) :]) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(TARGET + spec.name[len(ALIAS) :])

    def exec_module(self, module: ModuleType) -> None:
        pass  # the nano_modal module ran when it was imported
