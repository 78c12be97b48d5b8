"""nano-modal: run Python functions remotely, in containers, on your own machines.

The public API mirrors Modal's, so `import nano_modal as modal` ports a Modal program.
"""

from . import exception
from ._runtime_context import current_function_call_id, current_input_id, is_local
from .app import App
from .functions import Function, FunctionCall
from .image import Image
from .retries import Retries
from .version import __version__

__all__ = [
    "App",
    "Function",
    "FunctionCall",
    "Image",
    "Retries",
    "__version__",
    "current_function_call_id",
    "current_input_id",
    "exception",
    "is_local",
]
