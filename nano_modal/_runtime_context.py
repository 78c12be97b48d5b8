"""What the running code can ask about where it runs (`is_local`, current ids)."""

from __future__ import annotations

import contextvars

from . import config

_current_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("nano_modal_input_id", default=None)
_current_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("nano_modal_call_id", default=None)


def is_local() -> bool:
    """True on the machine that launched the app; False inside a nano-modal container."""
    return not config.is_remote()


def current_input_id() -> str | None:
    """The id of the input being processed, inside a container; None elsewhere."""
    return _current_input_id.get()


def current_function_call_id() -> str | None:
    """The id of the function call the current input belongs to, inside a container; None elsewhere."""
    return _current_call_id.get()


def set_current_input(input_id: str | None, call_id: str | None) -> None:
    _current_input_id.set(input_id)
    _current_call_id.set(call_id)


def interact() -> None:
    """Modal's way to type into a function running under `modal run -i`. nano-modal has no
    interactive run, so this raises, as Modal's does outside interactive mode; `nano-modal shell`
    opens a shell in a container instead."""
    from .exception import InvalidError

    raise InvalidError(
        "modal.interact() needs an interactive run (`modal run -i`), which nano-modal does not have; "
        "use `nano-modal shell` for a shell in a container"
    )
