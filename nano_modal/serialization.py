"""How values cross the wire: cloudpickle, with errors that name the value at fault.

The default path trusts the sender: unpickling can import and call anything the pickle
names, so a result or exception from a container runs code on the caller if the container's
code wants it to. Results of functions with `restrict_modal_access=True` (code the caller
does not trust) are decoded as plain data instead (`deserialize_plain`, `plain_exception`):
nothing is imported or called, and exceptions arrive as `RemoteError` carrying the remote
type name, message and traceback as text.
"""

from __future__ import annotations

import builtins
import io
import pickle
import traceback
from typing import Any

import cloudpickle

from .exception import DeserializationError, RemoteError, SerializationError


def serialize(obj: Any) -> bytes:
    data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return data


def deserialize(data: bytes, what: str = "value") -> Any:
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise DeserializationError(f"could not unpickle the {what}: {type(exc).__name__}: {exc}") from exc


# Builtin types a pickle may name and still be plain data (calling them runs no user code).
_PLAIN_GLOBALS = frozenset(("builtins", name) for name in ("bytearray", "complex", "set", "frozenset"))


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(
            f"only plain data (None, bool, int, float, str, bytes, list, tuple, dict, set) is accepted,"
            f" not {module}.{name}"
        )


def loads_plain(data: bytes) -> Any:
    """Unpickle without importing or calling anything the data names (pickle.UnpicklingError
    if it names anything but a few builtin data types)."""
    return _PlainUnpickler(io.BytesIO(data)).load()


def deserialize_plain(data: bytes, what: str = "value") -> Any:
    try:
        return loads_plain(data)
    except Exception as exc:
        raise DeserializationError(f"could not decode the {what} as plain data: {exc}") from None


def plain_exception(text: str, tb: str) -> RemoteError:
    """An exception from untrusted code, as text only: its pickle (if any) is never read."""
    type_name, _, message = text.partition(": ")
    exc = RemoteError(text)
    exc.type_name, exc.message, exc.remote_traceback = type_name, message, tb
    if tb:
        exc.add_note("\nRemote traceback (most recent call last):\n" + _strip_header(tb))
    return exc


def serialize_args(function_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Pickle a call's arguments; on failure, say which argument could not be pickled."""
    try:
        return serialize((args, kwargs))
    except Exception as exc:
        culprit = _find_unpicklable(args, kwargs)
        raise SerializationError(
            f"cannot send {culprit} of {function_name}() to the remote function: {type(exc).__name__}: {exc}"
        ) from exc


def _find_unpicklable(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    for i, value in enumerate(args):
        if not _picklable(value):
            return f"argument {i} ({_short_repr(value)})"
    for key, value in kwargs.items():
        if not _picklable(value):
            return f"argument {key!r} ({_short_repr(value)})"
    return "the arguments"


def _picklable(value: Any) -> bool:
    try:
        cloudpickle.dump(value, io.BytesIO())
        return True
    except Exception:
        return False


def _short_repr(value: Any, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def serialize_exception(exc: BaseException) -> tuple[bytes, str, str]:
    """Pickle an exception raised by user code, with its readable form and traceback."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    text = f"{type(exc).__name__}: {exc}"
    try:
        data = serialize(exc)
        pickle.loads(data)  # an exception that pickles but cannot be rebuilt is no use to the caller
    except Exception:
        data = serialize(RemoteError(text))
    return data, text, tb


def rebuild_exception(data: bytes, text: str, tb: str) -> BaseException:
    """The exception to raise at the caller, with the remote traceback attached as a note."""
    try:
        exc = pickle.loads(data) if data else RemoteError(text)
    except Exception:
        exc = RemoteError(text)
    if not isinstance(exc, BaseException):
        exc = RemoteError(text)
    if tb:
        exc.add_note("\nRemote traceback (most recent call last):\n" + _strip_header(tb))
    return exc


def _strip_header(tb: str) -> str:
    prefix = "Traceback (most recent call last):\n"
    return tb[len(prefix) :] if tb.startswith(prefix) else tb
