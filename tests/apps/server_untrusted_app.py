"""Functions under restrict_modal_access=True whose results and exceptions are hostile pickles:
for tests/security/test_server_results.py."""

from __future__ import annotations

from typing import Any

import nano_modal

app = nano_modal.App("server-untrusted-tests")


def _payload(marker_dir: str) -> tuple[Any, ...]:
    """Unpickled, this writes a file named by the unpickling process's pid into marker_dir."""
    code = f"import os; open(os.path.join({marker_dir!r}, str(os.getpid())), 'w').close()"
    return (exec, (code,))


class Hostile:
    def __init__(self, marker_dir: str) -> None:
        self.marker_dir = marker_dir

    def __reduce__(self) -> tuple[Any, ...]:
        return _payload(self.marker_dir)


class HostileError(Exception):
    def __init__(self, marker_dir: str) -> None:
        super().__init__(f"hostile error, marker dir {marker_dir}")
        self.marker_dir = marker_dir

    def __reduce__(self) -> tuple[Any, ...]:
        return _payload(self.marker_dir)


@app.function(restrict_modal_access=True)
def hostile_result(marker_dir: str) -> Any:
    return {"looks": "plain", "but": [Hostile(marker_dir)]}


@app.function(restrict_modal_access=True)
def hostile_raise(marker_dir: str) -> None:
    raise HostileError(marker_dir)


@app.function(restrict_modal_access=True)
def plain(x: int) -> Any:
    return {"x": x, "items": [1, 2.5, "s", b"b", None, True, (1, 2), {3}, frozenset({4}), 1j, bytearray(b"ba")]}


@app.function()
def trusted_result(marker_dir: str) -> Any:
    return Hostile(marker_dir)


@app.cls(restrict_modal_access=True)
class UntrustedCls:
    @nano_modal.method()
    def hostile_result(self, marker_dir: str) -> Any:
        return Hostile(marker_dir)
