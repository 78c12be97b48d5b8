"""Classes: `@app.cls()` with parameters and lifecycle hooks, as in Modal.

```python
@app.cls(cpu=1)
class Model:
    size: str = nano_modal.parameter(default="small")

    @nano_modal.enter()
    def load(self):
        self.weights = load_weights(self.size)   # once per container

    @nano_modal.method()
    def predict(self, x):
        return self.weights(x)

Model(size="large").predict.remote(3)
```

Each distinct set of parameters gets its own pool of containers.
"""

from __future__ import annotations

import copy
import inspect
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._definition import BATCHED_MARK, CONCURRENT_MARK, FunctionOptions
from ._porting_options import apply_overrides, note_ignored, option_overrides
from ._utils.aio import twin
from .client import Client, client_of
from .exception import InvalidError, NotFoundError
from .functions import Function, check_version
from .proto import api_pb2
from .retries import Retries
from .serialization import serialize
from .web import WEB_MARK

if TYPE_CHECKING:
    from .app import App

F = TypeVar("F", bound=Callable[..., Any])
METHOD_MARK = "__nano_modal_method__"
ENTER_MARK = "__nano_modal_enter__"
EXIT_MARK = "__nano_modal_exit__"
PARAMETER_TYPES = (str, int, bool, bytes)
_MISSING = object()


class _Parameter:
    def __init__(self, default: Any) -> None:
        self.default = default

    def __repr__(self) -> str:
        return "parameter()" if self.default is _MISSING else f"parameter(default={self.default!r})"


def parameter(*, default: Any = _MISSING, init: bool = True) -> Any:
    """Declare a class parameter: `name: str = nano_modal.parameter(default="x")` (str, int, bool or bytes)."""
    del init
    return _Parameter(default)


def _mark(name: str, value: Any = True) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        setattr(fn, name, value)
        return fn

    return decorate


def method(*, is_generator: bool | None = None) -> Callable[[F], F]:
    """Expose a method of an `@app.cls()` class for remote calls."""
    del is_generator
    return _mark(METHOD_MARK)


def enter(*, snap: bool = False) -> Callable[[F], F]:
    """Run this method once when a container starts, before it takes inputs."""
    del snap
    return _mark(ENTER_MARK)


def exit() -> Callable[[F], F]:
    """Run this method when a container shuts down."""
    return _mark(EXIT_MARK)


def concurrent(*, max_inputs: int, target_inputs: int | None = None) -> Callable[[F], F]:
    """Let one container run up to `max_inputs` inputs at once (threads for sync code, tasks for async)."""
    if max_inputs < 1:
        raise InvalidError(f"concurrent(max_inputs=...) must be at least 1, got {max_inputs}")
    return _mark(CONCURRENT_MARK, (max_inputs, target_inputs or max_inputs))


def batched(*, max_batch_size: int, wait_ms: int) -> Callable[[F], F]:
    """Call the function with lists of up to `max_batch_size` inputs, waiting up to `wait_ms` to fill them."""
    if not 1 <= max_batch_size <= 1000:
        raise InvalidError(f"batched(max_batch_size=...) must be between 1 and 1000, got {max_batch_size}")
    if not 0 <= wait_ms < 10 * 60 * 1000:
        raise InvalidError(f"batched(wait_ms=...) must be between 0 and 600000, got {wait_ms}")
    return _mark(BATCHED_MARK, (max_batch_size, wait_ms))


def is_remote_method(member: Any) -> bool:
    """Callable remotely: @method(), or @batched alone (Modal counts a batched method as a method)."""
    return bool(getattr(member, METHOD_MARK, False)) or getattr(member, BATCHED_MARK, None) is not None


def hook_methods(user_cls: type, mark: str) -> list[Callable[..., Any]]:
    """The class's methods carrying `mark` (@enter / @exit), base classes first, in definition order."""
    seen: dict[str, Callable[..., Any]] = {}
    for klass in reversed(user_cls.__mro__):
        for name, member in vars(klass).items():
            if callable(member) and getattr(member, mark, False):
                seen[name] = member
    return list(seen.values())


def _parameters(user_cls: type) -> dict[str, tuple[Any, _Parameter]]:
    annotations = inspect.get_annotations(user_cls, eval_str=False)
    found: dict[str, tuple[Any, _Parameter]] = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, _Parameter):
                found[name] = (annotations.get(name, str), value)
    return found


class Cls:
    """A class registered with `@app.cls()`; call it with parameters to get an instance handle."""

    object_id: str | None  # the server's id, once hydrated
    app: App | None

    def __init__(self, app: App | None, user_cls: type | None, name: str, options: FunctionOptions) -> None:
        self.app = app
        self.raw_f = user_cls  # the container unwraps this, as for functions
        self.name = name
        self.options = options
        self.object_id: str | None = None
        self.definition: api_pb2.FunctionDefinition | None = None
        self._lookup: tuple[str, str] | None = None
        self._version: int | None = None  # from_name(version=): checked when it is resolved
        self._overrides: dict[str, Any] = {}
        self._web_app_ref = ""  # app id (ephemeral) or name (deployed) in its endpoints' URLs

    @property
    def client(self) -> Client:
        """The client that hydrated this handle; AttributeError before it is hydrated."""
        return client_of(self, self.object_id is not None)

    def __repr__(self) -> str:
        return f"<nano_modal.Cls {self.name}>"

    @staticmethod
    def from_name(
        app_name: str,
        name: str,
        *,
        environment_name: str | None = None,
        use_firewall: bool = False,
        version: int | None = None,
    ) -> Cls:
        """A handle on a class of a deployed app, resolved on first use (`version`: as Function.from_name's)."""
        del environment_name
        note_ignored("Cls.from_name", {"use_firewall": use_firewall})
        cls = Cls(None, None, name, FunctionOptions())
        cls._lookup = (app_name, name)
        cls._version = version
        cls._web_app_ref = app_name
        return cls

    @twin
    async def hydrate(self) -> Cls:
        """Resolve the class now (from_name: NotFoundError here if it is not deployed)."""
        await self._resolve()
        return self

    def methods(self) -> list[api_pb2.MethodDefinition]:
        if self.raw_f is None:
            raise InvalidError(f"{self.name} comes from another app; its methods are known once it is resolved")
        result = []
        for member_name, member in inspect.getmembers(self.raw_f, predicate=inspect.isfunction):
            web = getattr(member, WEB_MARK, None)
            if is_remote_method(member) or web is not None:
                result.append(
                    api_pb2.MethodDefinition(
                        name=member_name,
                        is_generator=inspect.isgeneratorfunction(member) or inspect.isasyncgenfunction(member),
                        is_async=inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member),
                        web=web,
                    )
                )
        return result

    def parameter_specs(self) -> list[api_pb2.ClassParameter]:
        """The class's parameters, for whoever must build instances without the class at hand (the gateway)."""
        assert self.raw_f is not None
        specs = []
        for name, (annotation, spec) in _parameters(self.raw_f).items():
            type_name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "str")
            specs.append(api_pb2.ClassParameter(name=name, type=type_name, required=spec.default is _MISSING))
        return specs

    # ------------------------------------------------------------------ options

    def _with(self, **overrides: Any) -> Cls:
        clone = copy.copy(self)
        clone._overrides = {**self._overrides, **overrides}
        return clone

    def with_options(
        self,
        *,
        cpu: float | None = None,
        memory: int | None = None,
        gpu: str | list[str] | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] | None = None,
        volumes: dict[str, Any] | None = None,
        retries: int | Retries | None = None,
        max_containers: int | None = None,
        min_containers: int | None = None,
        scaledown_window: float | None = None,
        timeout: float | None = None,
        buffer_containers: int | None = None,
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        routing_region: str | None = None,
    ) -> Cls:
        """The same class with different resources, scaling or environment; instances get their
        own containers. (Cloud-only options are accepted and ignored with a note.)"""
        cloud_only = {
            "buffer_containers": buffer_containers,
            "region": region,
            "cloud": cloud,
            "routing_region": routing_region,
        }
        return self._with(
            **option_overrides(
                "Cls.with_options",
                cpu=cpu,
                memory=memory,
                gpu=gpu,
                env=env,
                secrets=secrets,
                volumes=volumes,
                retries=retries,
                max_containers=max_containers,
                min_containers=min_containers,
                scaledown_window=scaledown_window,
                timeout=timeout,
                cloud_only=cloud_only,
            )
        )

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Cls:
        del target_inputs
        return self._with(max_concurrent_inputs=max_inputs)

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Cls:
        return self._with(batch_max_size=max_batch_size, batch_wait_ms=wait_ms)

    # ------------------------------------------------------------------ instances

    def __call__(self, *args: Any, **params: Any) -> Obj:
        if args:
            raise InvalidError(f"{self.name}(...) takes parameters by keyword only")
        if self.raw_f is not None:
            params = self._checked(params)
        return Obj(self, params)

    def _checked(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.raw_f is not None
        declared = _parameters(self.raw_f)
        unknown = sorted(set(params) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            raise InvalidError(f"{self.name} has no parameter {unknown[0]!r} (its parameters: {known})")
        result = {}
        for name, (annotation, spec) in declared.items():
            if name in params:
                value = params[name]
            elif spec.default is not _MISSING:
                value = spec.default
            else:
                raise InvalidError(f"{self.name} needs parameter {name!r}")
            expected = {"str": str, "int": int, "bool": bool, "bytes": bytes}.get(annotation, annotation)
            if expected in PARAMETER_TYPES and (
                not isinstance(value, expected) or (expected is int and isinstance(value, bool))
            ):
                raise InvalidError(
                    f"parameter {name!r} of {self.name} must be {expected.__name__}, got {type(value).__name__}"
                )
            result[name] = value
        return result

    async def _resolve(self) -> tuple[str, api_pb2.FunctionDefinition]:
        if self.object_id is None and self._lookup is not None:
            client = await Client.get()
            app_name, name = self._lookup
            await check_version(client, app_name, self._version)
            found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(app_name=app_name, function_name=name))
            if not found.definition.is_class:
                raise InvalidError(f"{app_name}.{name} is a function, not a class: use nano_modal.Function.from_name")
            self.object_id, self.definition = found.function_id, found.definition
        if self.object_id is None and self.app is not None:
            await self.app._ensure_running()
        if self.object_id is not None and self.definition is None:  # hydrated by id, inside a container
            client = await Client.get()
            found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=self.object_id))
            self.definition = found.definition
        if self.object_id is None or self.definition is None:
            raise InvalidError(f"class {self.name} is not running: call it inside `with app.run():` or deploy it")
        return self.object_id, self.definition


def _query_value(value: Any) -> str:
    """A class parameter as the web gateway reads it from a URL's query."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.decode() if isinstance(value, bytes) else str(value)


class Obj:
    """An instance handle: `obj.method.remote(...)`, `.map(...)`, `.spawn(...)`, `.local(...)`."""

    def __init__(self, cls: Cls, params: dict[str, Any]) -> None:
        self._cls = cls
        self._params = params
        self._bound_id: str | None = None
        self._local: Any = None
        self._methods: dict[str, Function] = {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"<{self._cls.name}({args})>"

    async def _bound(self) -> tuple[str, api_pb2.FunctionDefinition]:
        parent_id, definition = await self._cls._resolve()
        if self._bound_id is None:
            if not self._params and not self._cls._overrides:
                self._bound_id = parent_id
            else:
                options = api_pb2.FunctionDefinition()
                options.CopyFrom(definition)
                await apply_overrides(options, self._cls._overrides)
                request = api_pb2.FunctionBindParamsRequest(
                    function_id=parent_id, params=serialize(tuple(sorted(self._params.items()))), definition=options
                )
                client = await Client.get()
                self._bound_id = (await client.stub.FunctionBindParams(request)).function_id
        return self._bound_id, definition

    def __getattr__(self, name: str) -> Function:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._methods:
            self._methods[name] = self._method(name)
        return self._methods[name]

    def _method(self, name: str) -> Function:
        cls = self._cls
        if cls.raw_f is not None:
            raw = getattr(cls.raw_f, name, None)
            if raw is None or not (is_remote_method(raw) or getattr(raw, WEB_MARK, None) is not None):
                raise AttributeError(f"{cls.name} has no method {name!r} marked with @nano_modal.method()")

        def run_locally(*args: Any, **kwargs: Any) -> Any:
            return getattr(self._local_instance(), name)(*args, **kwargs)

        handle = Function(None, run_locally, f"{cls.name}.{name}", cls.options)
        handle._method_name = name

        async def resolve() -> None:
            function_id, definition = await self._bound()
            match = [m for m in definition.methods if m.name == name]
            if not match:
                known = ", ".join(m.name for m in definition.methods) or "none"
                raise NotFoundError(f"class {cls.name} has no method {name!r} (its methods: {known})")
            handle.object_id = function_id
            handle.is_generator = match[0].is_generator
            handle.plain_results = definition.restrict_modal_access  # as deployed, not as declared here
            if match[0].web.kind:  # its URL: the class's, with the instance's parameters in the query
                handle._web_app_ref = cls._web_app_ref
                handle._web_label = match[0].web.label
                handle._web_query = urllib.parse.urlencode({k: _query_value(v) for k, v in self._params.items()})

        handle._resolver = resolve
        if cls.raw_f is not None:
            raw = getattr(cls.raw_f, name)
            handle.is_generator = inspect.isgeneratorfunction(raw) or inspect.isasyncgenfunction(raw)
        return handle

    def _local_instance(self) -> Any:
        if self._local is None:
            if self._cls.raw_f is None:
                raise InvalidError(f"{self._cls.name} comes from a deployed app; it cannot run locally")
            instance: Any = object.__new__(self._cls.raw_f)
            for key, value in self._params.items():
                setattr(instance, key, value)
            for hook in hook_methods(self._cls.raw_f, ENTER_MARK):
                hook(instance)
            self._local = instance
        return self._local
