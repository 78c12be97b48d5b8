"""nano-modal: run Python functions remotely, in containers, on your own machines.

The public API mirrors Modal's, so `import nano_modal as modal` ports a Modal program.
"""

from . import exception
from ._runtime_context import current_function_call_id, current_input_id, is_local
from .app import App
from .cls import Cls, batched, concurrent, enter, exit, method, parameter
from .dict import Dict
from .functions import Function, FunctionCall
from .image import Image
from .queue import Queue
from .retries import Retries
from .sandbox import ContainerProcess, Sandbox
from .schedule import Cron, Period
from .secret import Secret
from .version import __version__
from .volume import FileEntry, FileEntryType, Volume
from .web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

__all__ = [
    "App",
    "Cls",
    "ContainerProcess",
    "Cron",
    "Dict",
    "FileEntry",
    "FileEntryType",
    "Function",
    "FunctionCall",
    "Image",
    "Period",
    "Queue",
    "Retries",
    "Sandbox",
    "Secret",
    "Volume",
    "__version__",
    "asgi_app",
    "batched",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enter",
    "exception",
    "exit",
    "fastapi_endpoint",
    "is_local",
    "method",
    "parameter",
    "web_endpoint",
    "web_server",
    "wsgi_app",
]
