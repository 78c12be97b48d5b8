"""Exceptions raised by nano-modal; names follow `modal.exception`."""

from __future__ import annotations

import builtins


class Error(Exception):
    """Base class for every nano-modal error."""


class InvalidError(Error):
    """An argument or definition is not valid."""


class NotFoundError(Error):
    """A named object, app, function or call does not exist."""


class AlreadyExistsError(Error):
    """A named object already exists (and was not asked to be overwritten)."""


class AuthError(Error):
    """The server rejected the credentials."""


class ConnectionError(Error, builtins.ConnectionError):
    """The server could not be reached."""


class ExecutionError(Error):
    """The platform could not run the function."""


class ContainerDiedError(ExecutionError):
    """The container running an input exited before producing its output."""


class SandboxTerminatedError(Error):
    """The sandbox was terminated (or has finished) and runs nothing more."""


class SandboxTimeoutError(Error):
    """The sandbox ran past its `timeout` (or `idle_timeout`)."""


class RemoteError(Error):
    """The function raised an exception that cannot be, or is not to be, recreated on this
    side (serialization.plain_exception): its remote type name, message and traceback as text."""

    type_name: str = ""
    message: str = ""
    remote_traceback: str = ""


class TimeoutError(Error, builtins.TimeoutError):
    """Waiting for a result took longer than allowed."""


class FunctionTimeoutError(TimeoutError):
    """An input ran longer than its function's `timeout`."""


class OutputExpiredError(TimeoutError):
    """The result of a call is no longer kept by the server."""


class SerializationError(Error):
    """A value could not be pickled for transport."""


class DeserializationError(Error):
    """A value could not be unpickled on this side."""


class InputCancellation(BaseException):
    """The input was cancelled (a `BaseException`, as in Modal, so that broad handlers do not swallow it)."""
