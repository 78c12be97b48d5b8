"""An app whose module imports fine here but raises when a container imports it."""

from __future__ import annotations

import nano_modal

app = nano_modal.App("broken-import-tests")

if not nano_modal.is_local():
    raise RuntimeError("broken_import_app refuses to be imported inside a container")


@app.function()
def never_runs(x: int = 0) -> int:
    return x
