"""nano-modal: run Python functions remotely, in containers, on your own machines.

The public API mirrors Modal's, so `import nano_modal as modal` ports a Modal program.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import exception, types
    from ._modal_alias import install_as_modal
    from ._output import enable_output
    from ._runtime_context import current_function_call_id, current_input_id, interact, is_local
    from ._server import Server
    from ._server_sessions import sessioned
    from ._tunnel import Tunnel, forward
    from .app import App
    from .client import Client
    from .cloud_bucket_mount import CloudBucketMount
    from .cls import Cls, batched, concurrent, enter, exit, method, parameter
    from .dict import Dict
    from .exception import Error
    from .file_pattern_matcher import FilePatternMatcher
    from .function_call import FunctionCall
    from .functions import Function
    from .image import Image
    from .probe import Probe
    from .queue import Queue
    from .retries import Retries
    from .sandbox import ContainerProcess, Sandbox
    from .schedule import Cron, Period
    from .secret import Secret
    from .version import __version__
    from .volume import FileEntry, FileEntryType, Volume
    from .web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

# Where each public name lives. They are imported on first use (PEP 562), not here: a function
# container imports `nano_modal.container` and only what its function needs, and every file a
# container opens at start-up costs time (under gVisor, a round trip to its gofer).
_LAZY = {
    "exception": "",
    "types": "",
    **dict.fromkeys(("current_function_call_id", "current_input_id", "interact", "is_local"), "._runtime_context"),
    "App": ".app",
    "Client": ".client",
    **dict.fromkeys(("Cls", "batched", "concurrent", "enter", "exit", "method", "parameter"), ".cls"),
    "Dict": ".dict",
    "Error": ".exception",
    "enable_output": "._output",
    "install_as_modal": "._modal_alias",
    "Function": ".functions",
    "FunctionCall": ".function_call",
    "FilePatternMatcher": ".file_pattern_matcher",
    "Image": ".image",
    "Probe": ".probe",
    "Queue": ".queue",
    "Retries": ".retries",
    **dict.fromkeys(("ContainerProcess", "Sandbox"), ".sandbox"),
    **dict.fromkeys(("Cron", "Period"), ".schedule"),
    "Secret": ".secret",
    "CloudBucketMount": ".cloud_bucket_mount",
    "Server": "._server",
    "sessioned": "._server_sessions",
    **dict.fromkeys(("Tunnel", "forward"), "._tunnel"),
    "__version__": ".version",
    **dict.fromkeys(("FileEntry", "FileEntryType", "Volume"), ".volume"),
    **dict.fromkeys(("asgi_app", "fastapi_endpoint", "web_endpoint", "web_server", "wsgi_app"), ".web"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module(module or f".{name}", __name__)
    if module:
        value = getattr(value, name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "App",
    "Client",
    "CloudBucketMount",
    "Cls",
    "ContainerProcess",
    "Cron",
    "Dict",
    "Error",
    "FileEntry",
    "FileEntryType",
    "FilePatternMatcher",
    "Function",
    "FunctionCall",
    "Image",
    "Period",
    "Probe",
    "Queue",
    "Retries",
    "Sandbox",
    "Secret",
    "Server",
    "Tunnel",
    "Volume",
    "__version__",
    "asgi_app",
    "batched",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enable_output",
    "enter",
    "exception",
    "exit",
    "fastapi_endpoint",
    "forward",
    "install_as_modal",
    "interact",
    "is_local",
    "method",
    "parameter",
    "sessioned",
    "types",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
