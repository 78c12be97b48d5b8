"""`App`: the unit that groups functions, and the lifecycle of one run of it.

```python
app = nano_modal.App("demo")

@app.function(timeout=60, retries=2)
def square(x: int) -> int:
    return x * x

@app.local_entrypoint()
def main():
    print(square.remote(4))
```

`nano-modal run demo.py` runs `main` with the app live; in a script, `with app.run():`
does the same.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from . import config
from ._app_info import AppInspection, check_tags
from ._app_logs import heartbeat, print_logs
from ._app_options import function_options, hydrate_target, target_definition
from ._app_registry import AppRegistry
from ._app_server import ServerRegistration
from ._definition import BATCHED_MARK
from ._deploy_images import build_images
from ._output import output_enabled
from ._porting_options import note_ignored
from ._server_sessions import is_sessioned
from ._utils.aio import run_blocking, run_in_background, twin
from .client import Client
from .cls import Cls
from .exception import InvalidError
from .functions import Function
from .proto import api_pb2
from .retries import Retries
from .schedule import Cron, Period

_ACTIVE_APPS: list[App] = []  # apps defined in this process, for hydration inside containers


class LocalEntrypoint:
    """A function that runs on the caller's machine while its app is live."""

    def __init__(self, app: App, raw_f: Callable[..., Any]) -> None:
        self.app = app
        self.raw_f = raw_f
        self.__name__ = raw_f.__name__
        self.__doc__ = raw_f.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)


class App(AppRegistry, AppInspection, ServerRegistration):
    """A group of functions and classes that run, and deploy, together."""

    name: str | None
    app_id: str | None  # while it runs (or once deployed)

    def __init__(
        self,
        name: str | None = None,
        *,
        image: Any = None,
        secrets: list[Any] | None = None,
        volumes: dict[str, Any] | None = None,
        include_source: bool | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        note_ignored("App", {"include_source": include_source})
        self.name = name
        self.tags = check_tags(tags)  # sent when the app is created or deployed (App.set_tags later)
        self.image = image
        self.secrets = list(secrets or [])
        self.volumes = dict(volumes or {})
        self.app_id: str | None = None
        self.deployed_version = 0
        self._functions: dict[str, Function] = {}
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self._classes: dict[str, Cls] = {}
        self._run_lock: asyncio.Lock | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        _ACTIVE_APPS.append(self)

    def __getstate__(self) -> dict[str, Any]:
        # A function sent by value may reference its app; the run's live state stays here.
        state = dict(self.__dict__)
        state.update(_run_lock=None, _log_task=None, _heartbeat_task=None)
        return state

    def __repr__(self) -> str:
        return f"<nano_modal.App {self.name or '(unnamed)'}{' ' + self.app_id if self.app_id else ''}>"

    @property
    def description(self) -> str:
        return self.name or "app"

    # ------------------------------------------------------------------ decorators

    def function(
        self,
        _warn_parentheses_missing: Any = None,
        *,
        image: Any = None,
        timeout: float = config.DEFAULT_TIMEOUT,
        retries: int | Retries | None = None,
        max_containers: int | None = None,
        min_containers: int = 0,
        scaledown_window: float | None = None,
        max_inputs: int | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        serialized: bool = False,
        secrets: list[Any] | None = None,
        volumes: dict[str, Any] | None = None,
        name: str | None = None,
        block_network: bool = False,
        gpu: str | list[str] | None = None,
        restrict_modal_access: bool = False,
        concurrency_limit: int | None = None,  # Modal's older names, accepted with a DeprecationWarning
        keep_warm: int | None = None,
        container_idle_timeout: float | None = None,
        schedule: Period | Cron | None = None,
        is_generator: bool | None = None,  # nano-modal tells generators by their code
        env: dict[str, str | None] | None = None,
        single_use_containers: bool = False,
        network_file_systems: dict[str, Any] | None = None,
        # Modal's cloud only: accepted and ignored with a note (see _porting_options.CLOUD_ONLY)
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        routing_region: str | None = None,
        buffer_containers: int | None = None,
        enable_memory_snapshot: bool = False,
        nonpreemptible: bool = False,
        ephemeral_disk: int | None = None,
        startup_timeout: int | None = None,
        experimental_options: dict[str, Any] | None = None,
        include_source: bool | None = None,
    ) -> Callable[[Callable[..., Any]], Function]:
        """Register a function to run remotely. Options follow `modal.App.function`."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.function() with parentheses")
        del is_generator
        options = function_options(
            self,
            "App.function",
            image,
            timeout,
            retries,
            max_containers,
            min_containers,
            scaledown_window,
            max_inputs,
            cpu,
            memory,
            serialized,
            secrets,
            volumes,
            block_network,
            gpu=gpu,
            restrict_modal_access=restrict_modal_access,
            renamed={
                "concurrency_limit": concurrency_limit,
                "keep_warm": keep_warm,
                "container_idle_timeout": container_idle_timeout,
            },
            ported={
                "env": env,
                "single_use_containers": single_use_containers,
                "network_file_systems": network_file_systems,
                "region": region,
                "cloud": cloud,
                "routing_region": routing_region,
                "buffer_containers": buffer_containers,
                "enable_memory_snapshot": enable_memory_snapshot,
                "nonpreemptible": nonpreemptible,
                "ephemeral_disk": ephemeral_disk,
                "startup_timeout": startup_timeout,
                "experimental_options": experimental_options,
                "include_source": include_source,
            },
        )

        if schedule is not None and not isinstance(schedule, Period | Cron):
            raise InvalidError(f"schedule must be nano_modal.Period or nano_modal.Cron, got {schedule!r}")
        options.schedule = schedule

        def decorate(raw_f: Callable[..., Any]) -> Function:
            if isinstance(raw_f, Function | Cls):
                raise InvalidError(f"{raw_f.name} is already registered with an app")
            if not callable(raw_f) or isinstance(raw_f, type):
                raise InvalidError(f"@app.function() needs a function, got {raw_f!r}; use @app.cls() for classes")
            tag = self._tag(name or raw_f.__qualname__, serialized)
            fn_options = copy.copy(options)
            fn_options.read_marks(raw_f)
            fn_options.validate(tag)
            fn = Function(self, raw_f, tag, fn_options)
            self._functions[tag] = fn
            return fn

        return decorate

    def cls(
        self,
        _warn_parentheses_missing: Any = None,
        *,
        image: Any = None,
        timeout: float = config.DEFAULT_TIMEOUT,
        retries: int | Retries | None = None,
        max_containers: int | None = None,
        min_containers: int = 0,
        scaledown_window: float | None = None,
        max_inputs: int | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        serialized: bool = False,
        secrets: list[Any] | None = None,
        volumes: dict[str, Any] | None = None,
        block_network: bool = False,
        gpu: str | list[str] | None = None,
        restrict_modal_access: bool = False,
        concurrency_limit: int | None = None,  # Modal's older names, accepted with a DeprecationWarning
        keep_warm: int | None = None,
        container_idle_timeout: float | None = None,
        env: dict[str, str | None] | None = None,
        single_use_containers: bool = False,
        network_file_systems: dict[str, Any] | None = None,
        # Modal's cloud only: accepted and ignored with a note (see _porting_options.CLOUD_ONLY)
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        routing_region: str | None = None,
        buffer_containers: int | None = None,
        enable_memory_snapshot: bool = False,
        nonpreemptible: bool = False,
        ephemeral_disk: int | None = None,
        startup_timeout: int | None = None,
        experimental_options: dict[str, Any] | None = None,
        include_source: bool | None = None,
    ) -> Callable[[type], Cls]:
        """Register a class whose `@method()`s run remotely; same options as `function`."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.cls() with parentheses")
        options = function_options(
            self,
            "App.cls",
            image,
            timeout,
            retries,
            max_containers,
            min_containers,
            scaledown_window,
            max_inputs,
            cpu,
            memory,
            serialized,
            secrets,
            volumes,
            block_network,
            gpu=gpu,
            restrict_modal_access=restrict_modal_access,
            renamed={
                "concurrency_limit": concurrency_limit,
                "keep_warm": keep_warm,
                "container_idle_timeout": container_idle_timeout,
            },
            ported={
                "env": env,
                "single_use_containers": single_use_containers,
                "network_file_systems": network_file_systems,
                "region": region,
                "cloud": cloud,
                "routing_region": routing_region,
                "buffer_containers": buffer_containers,
                "enable_memory_snapshot": enable_memory_snapshot,
                "nonpreemptible": nonpreemptible,
                "ephemeral_disk": ephemeral_disk,
                "startup_timeout": startup_timeout,
                "experimental_options": experimental_options,
                "include_source": include_source,
            },
        )

        def decorate(user_cls: type) -> Cls:
            if not isinstance(user_cls, type):
                raise InvalidError(f"@app.cls() needs a class, got {user_cls!r}")
            if is_sessioned(user_cls):
                raise InvalidError(
                    f"{user_cls.__name__}: @nano_modal.sessioned() goes with @app.server(), not @app.cls()"
                )
            tag = self._tag(user_cls.__qualname__, serialized)
            cls_options = copy.copy(options)
            cls_options.read_marks(user_cls)
            cls = Cls(self, user_cls, tag, cls_options)
            methods = cls.methods()
            if not methods:
                raise InvalidError(f"class {tag} has no @nano_modal.method(): nothing could be called remotely")
            batched = [m.name for m in methods if hasattr(getattr(user_cls, m.name), BATCHED_MARK)]
            if batched:
                if len(methods) > 1:
                    raise InvalidError(f"class {tag}: a class with a @batched method ({batched[0]}) can have no other")
                cls_options.read_marks(getattr(user_cls, batched[0]))
            cls_options.validate(tag)
            self._classes[tag] = cls
            return cls

        return decorate

    def _tag(self, tag: str, serialized: bool) -> str:
        if "<locals>" in tag and not serialized:
            raise InvalidError(f"{tag} is defined inside another function: pass serialized=True to send it by value")
        if tag in self._functions or tag in self._classes:
            raise InvalidError(f"app {self.description} already has a function or class named {tag}")
        return tag

    def local_entrypoint(
        self, _warn_parentheses_missing: Any = None, *, name: str | None = None
    ) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Register a function that runs locally, with the app live, under `nano-modal run`."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.local_entrypoint() with parentheses")

        def decorate(raw_f: Callable[..., Any]) -> LocalEntrypoint:
            entrypoint = LocalEntrypoint(self, raw_f)
            self._entrypoints[name or raw_f.__name__] = entrypoint
            return entrypoint

        return decorate

    # ------------------------------------------------------------------ running

    @contextlib.contextmanager
    def run(
        self,
        *,
        show_logs: bool = True,
        name: str | None = None,
        environment_name: str | None = None,
        detach: bool = False,
        interactive: bool = False,
    ) -> Iterator[App]:
        """Run the app (ephemerally) for the duration of the `with` block; `name` names this run.
        (`environment_name`, `detach` and `interactive` are accepted for Modal compatibility: a
        run's objects live in the server's environments by their own names, a run always stops
        with its block, and `nano-modal shell` is the interactive way in.)"""
        del environment_name, detach, interactive
        if name is not None:
            self.name = name
        run_blocking(self._start(show_logs))
        try:
            yield self
        finally:
            run_blocking(self._stop())

    @contextlib.asynccontextmanager
    async def run_async(self, *, show_logs: bool = True) -> AsyncIterator[App]:
        await run_in_background(self._start(show_logs))
        try:
            yield self
        finally:
            await run_in_background(self._stop())

    @twin
    async def lookup(
        name: str, *, client: Any = None, environment_name: str | None = None, create_if_missing: bool = False
    ) -> App:
        """A deployed app, by name: what sandboxes and other objects can belong to when a
        plain script (not `nano-modal run`) creates them.

            app = nano_modal.App.lookup("sandboxes", create_if_missing=True)
            sb = nano_modal.Sandbox.create("echo", "hi", app=app)

        Raises NotFoundError when no app of that name is deployed, unless
        `create_if_missing=True`, which deploys an empty one. (`client` and
        `environment_name` are accepted for Modal compatibility; there is one environment.)
        """
        del client, environment_name
        connected = await Client.get()
        summary = await connected.stub.AppLookup(
            api_pb2.AppLookupRequest(name=name, create_if_missing=create_if_missing)
        )
        app = App(name)
        _ACTIVE_APPS.remove(app)  # it defines nothing in this process: nothing to hydrate in containers
        app.app_id = summary.app_id
        app.deployed_version = summary.version
        return app

    @twin
    async def stop(self) -> None:
        """Stop the app: its containers exit and its functions take no more calls (a deployed app
        is undeployed; `nano-modal app stop` does the same)."""
        if self._log_task is not None or self._heartbeat_task is not None:
            await self._stop()  # a run of this process: end it as the `with` block would
            return
        if self.app_id is None:
            raise InvalidError(f"app {self.description} is not running")
        client = await Client.get()
        await client.stub.AppStop(api_pb2.AppStopRequest(app_id=self.app_id))
        self.app_id = None

    @twin
    async def deploy(
        self, *, name: str | None = None, tag: str = "", environment_name: str | None = None, strategy: str = "rolling"
    ) -> App:
        """Deploy the app: it keeps running after this process exits; each deploy is a new version.

        Calls in flight finish on the old code; new calls run the new code. Other programs
        reach the functions with `nano_modal.Function.from_name(app_name, function_name)`.
        """
        del environment_name  # apps live in the server's one namespace of app names
        if strategy != "rolling":  # calls in flight finish on the old version, new ones run the new
            raise InvalidError(f"deploy(strategy={strategy!r}): nano-modal deploys are rolling")
        app_name = name or self.name
        if not app_name:
            raise InvalidError("a deployed app needs a name: App('name') or deploy(name=...)")
        if self.app_id is not None and not self.deployed_version:
            raise InvalidError(f"app {app_name} is running (app.run()): deploy it outside the `with` block")
        client = await Client.get()
        targets = self._registered()
        definitions = [await target_definition(client, target) for target in targets.values()]
        await build_images(client, app_name, definitions)  # a broken image fails here, not at the first call
        response = await client.stub.AppDeploy(
            api_pb2.AppDeployRequest(name=app_name, tag=tag, definitions=definitions, tags=self.tags)
        )
        self.app_id = response.app_id
        self.deployed_version = response.version
        for definition in definitions:
            hydrate_target(targets[definition.name], response.function_ids[definition.name], definition, app_name)
        return self

    async def _ensure_running(self) -> None:
        """Start the app on first use outside `app.run()` (a script calling `.remote()` directly)."""
        if self.app_id is None and not config.is_remote():
            await self._start(show_logs=True)
            atexit.register(lambda: run_blocking(self._stop()))

    async def _start(self, show_logs: bool) -> None:
        if self._run_lock is None:
            self._run_lock = asyncio.Lock()
        async with self._run_lock:
            if self.app_id is not None:
                return
            client = await Client.get()
            response = await client.stub.AppCreate(
                api_pb2.AppCreateRequest(name=self.description, ephemeral=True, tags=self.tags)
            )
            self.app_id = response.app_id
            if show_logs or output_enabled():
                self._log_task = asyncio.create_task(print_logs(client, self.app_id))
            self._heartbeat_task = asyncio.create_task(heartbeat(client, self.app_id))
            for target in self._registered().values():
                definition = await target_definition(client, target)
                created = await client.stub.FunctionCreate(
                    api_pb2.FunctionCreateRequest(app_id=self.app_id, definition=definition)
                )
                hydrate_target(target, created.function_id, definition, self.app_id)

    async def _stop(self) -> None:
        if self.app_id is None:
            return
        client = await Client.get()
        app_id, self.app_id = self.app_id, None
        if self._heartbeat_task:
            self._heartbeat_task.cancel()
        try:
            await client.stub.AppStop(api_pb2.AppStopRequest(app_id=app_id), timeout=10)
        finally:
            for target in self._registered().values():
                hydrate_target(target, None, None, "")
            if self._log_task is not None:
                # The log stream ends once every container has exited and its output is in.
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(self._log_task, 10)
                self._log_task = None

    def _hydrate_from_container(self, function_ids: dict[str, str]) -> None:
        for tag, target in self._registered().items():
            if tag in function_ids:
                target.object_id = function_ids[tag]  # a class fetches its definition when first used


def hydrate_in_container(function_ids: dict[str, str]) -> None:
    """Inside a container: give every Function of the imported apps its server-side id."""
    for app in _ACTIVE_APPS:
        app._hydrate_from_container(function_ids)
