"""`enable_output()`: show what containers print (and image builds) for the runs inside the block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# How many enable_output() blocks are open in this process (they nest).
_open_blocks = 0


@contextlib.contextmanager
def enable_output(show_progress: bool = True) -> Iterator[None]:
    """Show containers' output and image builds for apps run inside the block, even with
    `app.run(show_logs=False)`. (nano-modal shows them by default; Modal shows them only here.)
    `show_progress` is accepted for Modal compatibility: nano-modal has no progress spinners."""
    del show_progress
    global _open_blocks
    _open_blocks += 1
    try:
        yield
    finally:
        _open_blocks -= 1


def output_enabled() -> bool:
    return _open_blocks > 0
