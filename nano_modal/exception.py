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


# The rest of `modal.exception`'s names, so that `except modal.exception.X` ports unchanged.
# Most are raised where nano-modal meets the same condition; the hierarchy follows Modal's.


class ClientClosed(Error):
    """The client was closed and makes no more calls."""


class ConflictError(InvalidError):
    """The request conflicts with the object's current state."""


class DataLossError(Error):
    """Data was lost or corrupted in transit or storage."""


class InternalError(Error):
    """The server failed in a way that is not the caller's fault."""


class InternalFailure(Error):
    """A transient platform failure: the input is retried."""


class LogsFetchError(Error):
    """Logs could not be fetched."""


class PermissionDeniedError(Error):
    """The caller may not do this."""


class RequestSizeError(Error):
    """A request (arguments, a payload) is larger than the server accepts."""


class ResourceExhaustedError(Error):
    """A quota or capacity limit was reached."""


class ServiceError(Error):
    """The server could not serve the request."""


class UnimplementedError(Error):
    """The server does not implement this call."""


class VersionError(Error):
    """The client's version is not supported by the server."""


class SnapshotCreationError(Error):
    """A sandbox snapshot could not be taken."""


class WorkspaceManagementError(Error):
    """A workspace-level operation failed."""


class ImageBuildError(RemoteError):
    """An image failed to build."""


class ExecTimeoutError(TimeoutError):
    """A command run in a sandbox ran past its timeout."""


class InteractiveTimeoutError(TimeoutError):
    """An interactive session timed out."""


class MountUploadTimeoutError(TimeoutError):
    """Uploading local files took too long."""


class VolumeUploadTimeoutError(TimeoutError):
    """Uploading to a volume took too long."""


class SandboxFilesystemError(Error):
    """A filesystem operation inside a sandbox failed."""


class SandboxFilesystemDirectoryNotEmptyError(SandboxFilesystemError):
    """The directory is not empty."""


class SandboxFilesystemFileTooLargeError(SandboxFilesystemError):
    """The file is too large for the operation."""


class SandboxFilesystemIsADirectoryError(SandboxFilesystemError):
    """The path is a directory."""


class SandboxFilesystemNotADirectoryError(SandboxFilesystemError):
    """The path is not a directory."""


class SandboxFilesystemNotFoundError(SandboxFilesystemError):
    """The path does not exist."""


class SandboxFilesystemPathAlreadyExistsError(SandboxFilesystemError):
    """The path already exists."""


class SandboxFilesystemPermissionError(SandboxFilesystemError):
    """The sandbox's user may not access the path."""


class ModuleNotMountable(Exception):
    """A local module cannot be shipped to containers (it has no source files)."""


class UserCodeException(Exception):
    """Wraps an exception raised by user code, where Modal returns it wrapped."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(repr(exc))
        self.exc = exc


class DeprecationError(UserWarning):
    """A feature was removed."""


class AsyncUsageWarning(UserWarning):
    """A blocking call was made from inside an event loop."""


class InternalAPIWarning(UserWarning):
    """An internal API was used."""


class ServerWarning(UserWarning):
    """A warning the server sent to the client."""


def simulate_preemption(wait_seconds: int, jitter_seconds: int = 0) -> None:
    """Interrupt this process as a preemption would: SIGINT (KeyboardInterrupt in the main thread)
    after `wait_seconds` plus up to `jitter_seconds`, then SIGKILL 30 seconds later."""
    import os
    import random
    import signal
    import threading
    import time

    if wait_seconds < 0 or jitter_seconds < 0:
        raise InvalidError("simulate_preemption: wait_seconds and jitter_seconds must not be negative")

    main = threading.main_thread().ident
    assert main is not None
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Ignored since the process started (a shell's background job, nohup): Python then leaves
        # SIGINT ignored, and the interrupt this simulates would never arrive.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def preempt() -> None:
        time.sleep(wait_seconds + random.uniform(0, jitter_seconds))
        # To the main thread itself: a signal to the process may land on this thread, and the
        # main thread would sleep on, never raising KeyboardInterrupt, until the SIGKILL.
        signal.pthread_kill(main, signal.SIGINT)
        time.sleep(PREEMPTION_KILL_AFTER)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=preempt, name="nano-modal-simulated-preemption", daemon=True).start()


PREEMPTION_KILL_AFTER = 30.0  # seconds between a simulated preemption's SIGINT and its SIGKILL, as Modal's
