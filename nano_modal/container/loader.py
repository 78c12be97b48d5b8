"""Find the user's code in the container: a function, or a class instance with its hooks."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import config
from .._session_token import SESSION_PARAM
from ..proto import api_pb2
from ..serialization import deserialize
from .io import ContainerIO

if TYPE_CHECKING:
    import tarfile


def _running_image(definition: api_pb2.FunctionDefinition) -> str:
    if not definition.HasField("image"):
        return ""
    from .._image_digest import spec_definition_digest

    return spec_definition_digest(definition.image)


def export_modal_environment(container_id: str, definition: api_pb2.FunctionDefinition) -> None:
    """Set Modal's container variables before the user's code is imported (its module-level
    code may read them), and so that processes it starts inherit them."""
    os.environ.update(
        {
            **config.modal_container_env(container_id, definition.image.image_id),
            "MODAL_IS_REMOTE": "1",
            config.ENV_RUNNING_IMAGE: _running_image(definition),
            "MODAL_ENVIRONMENT": os.environ.get(config.ENV_ENVIRONMENT) or config.DEFAULT_ENVIRONMENT,
        }
    )


def load_target(io_: ContainerIO, definition: api_pb2.FunctionDefinition) -> Any:
    """The raw function or class the definition names (unwrapped from nano_modal's objects)."""
    export_modal_environment(io_.container_id, definition)
    from .._modal_alias import expose_in_container

    expose_in_container()  # `import modal` in the user's code (or a library it uses) is nano_modal
    if definition.pickled_blob_id:
        obj: Any = deserialize(io_.read_blob(definition.pickled_blob_id), f"function {definition.name}")
    else:
        if definition.source_blob_id:
            sys.path.insert(0, _unpack_source(io_.read_blob(definition.source_blob_id)))
        obj = importlib.import_module(definition.module_name)
        for part in definition.name.split("."):
            obj = getattr(obj, part)
    raw = getattr(obj, "raw_f", None)  # nano_modal's Function and Cls wrap the user's object
    return raw if raw is not None else obj


class Target:
    """What inputs run against: one function, or the methods of one class instance."""

    def __init__(self, definition: api_pb2.FunctionDefinition, loaded: Any) -> None:
        self.definition = definition
        self.instance: Any = None
        if definition.is_class:
            from ..cls import _MISSING, _parameters

            self.instance = loaded.__new__(loaded)
            params = dict(deserialize(definition.bound_params, "class parameters")) if definition.bound_params else {}
            params.pop(SESSION_PARAM, None)  # a Server session's: it names the pool, not an attribute
            declared = _parameters(loaded)
            for name, (_, spec) in declared.items():
                if name not in params and spec.default is _MISSING:
                    raise TypeError(f"{definition.name} needs parameter {name!r}")
                setattr(self.instance, name, params.get(name, spec.default))
            unknown = sorted(set(params) - set(declared))
            if unknown:
                raise TypeError(f"{definition.name} has no parameter {unknown[0]!r}")
            self.function: Callable[..., Any] | None = None
        else:
            self.function = loaded
        self.web_handlers: dict[str, Callable[..., Any]] = {}  # "" for a function, else the method name
        if definition.web.kind or any(method.web.kind for method in definition.methods):
            from .web import make_web_handler
        if definition.web.kind:
            # A Server (a class serving HTTP itself): its @enter hooks start the server.
            start = _nothing_to_start if self.instance is not None else loaded
            self.web_handlers[""] = make_web_handler(definition.web, start)
        for method in definition.methods:
            if method.web.kind:
                self.web_handlers[method.name] = make_web_handler(method.web, getattr(self.instance, method.name))

    def resolve(self, method_name: str) -> Callable[..., Any]:
        if method_name.startswith(config.WEB_METHOD):  # "__web__" or "__web__.<method>"
            handler = self.web_handlers.get(method_name[len(config.WEB_METHOD) + 1 :])
            if handler is None:
                raise AttributeError(f"{self.definition.name} has no web endpoint {method_name!r}")
            return handler
        if self.function is not None:
            return self.function
        method = getattr(self.instance, method_name, None)
        if method is None or not callable(method):
            raise AttributeError(f"class {self.definition.name} has no method {method_name!r}")
        return method  # type: ignore[no-any-return]

    def run_hooks(self, enter: bool) -> None:
        """Run the instance's @enter (or @exit) methods, in the order the class defines them."""
        if self.instance is None:
            return
        import asyncio
        import inspect

        from ..cls import ENTER_MARK, EXIT_MARK, hook_methods

        for hook in hook_methods(type(self.instance), ENTER_MARK if enter else EXIT_MARK):
            result = hook(self.instance)
            if inspect.iscoroutine(result):
                asyncio.run(result)


def _nothing_to_start() -> None:
    """A Server's HTTP server was started by its class's @enter hooks, before any request."""


def _unpack_source(archive: bytes) -> str:
    """Unpack the app's source (a .tar.gz) into ./src, or a private temporary directory when
    the image's WORKDIR is not ours to write (it belongs to another user, or is read-only);
    return that directory."""
    import io
    import tarfile
    import tempfile

    src = os.path.join(os.getcwd(), "src")
    try:
        os.makedirs(src, exist_ok=True)
        writable = os.access(src, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        src = tempfile.mkdtemp(prefix="nano-modal-src-")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(src, filter="data")
        else:  # an image's Python older than 3.11.4: check the names ourselves
            tar.extractall(src, members=_safe_members(tar))
    return src


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """What tarfile's "data" filter allows, for Pythons without it: plain files and directories
    with relative paths that stay inside the destination."""
    from pathlib import PurePosixPath

    members = []
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise ValueError(f"unsafe path in the source archive: {member.name!r}")
        members.append(member)
    return members
