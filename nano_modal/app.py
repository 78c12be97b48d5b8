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
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from . import config
from ._source import source_archive
from ._utils.aio import run_blocking, run_in_background, twin
from .client import Client
from .exception import InvalidError
from .functions import Function, FunctionOptions
from .proto import api_pb2
from .retries import Retries
from .serialization import serialize

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


class App:
    def __init__(
        self,
        name: str | None = None,
        *,
        image: Any = None,
        secrets: list[Any] | None = None,
        volumes: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.image = image
        self.secrets = list(secrets or [])
        self.volumes = dict(volumes or {})
        self.app_id: str | None = None
        self.deployed_version = 0
        self.registered_functions: dict[str, Function] = {}
        self.registered_entrypoints: dict[str, LocalEntrypoint] = {}
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
    ) -> Callable[[Callable[..., Any]], Function]:
        """Register a function to run remotely. Options follow `modal.App.function`."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.function() with parentheses")

        def decorate(raw_f: Callable[..., Any]) -> Function:
            if isinstance(raw_f, Function):
                raise InvalidError(f"{raw_f.name} is already a nano_modal Function")
            if not callable(raw_f):
                raise InvalidError(f"@app.function() needs a function, got {type(raw_f).__name__}")
            tag = name or raw_f.__qualname__
            if "<locals>" in tag and not serialized:
                raise InvalidError(
                    f"{tag} is defined inside another function: pass serialized=True to send it by value"
                )
            options = FunctionOptions(
                timeout=timeout,
                retries=Retries.coerce(retries),
                max_containers=max_containers,
                min_containers=min_containers,
                scaledown_window=scaledown_window,
                max_inputs=max_inputs,
                cpu=cpu,
                memory=memory,
                serialized=serialized,
                image=image or self.image,
                secrets=tuple(self.secrets + list(secrets or [])),
                volumes={**self.volumes, **(volumes or {})},
                block_network=block_network,
            )
            options.validate(tag)
            fn = Function(self, raw_f, tag, options)
            self.registered_functions[tag] = fn
            return fn

        return decorate

    def local_entrypoint(
        self, _warn_parentheses_missing: Any = None, *, name: str | None = None
    ) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Register a function that runs locally, with the app live, under `nano-modal run`."""
        if _warn_parentheses_missing is not None:
            raise InvalidError("use @app.local_entrypoint() with parentheses")

        def decorate(raw_f: Callable[..., Any]) -> LocalEntrypoint:
            entrypoint = LocalEntrypoint(self, raw_f)
            self.registered_entrypoints[name or raw_f.__name__] = entrypoint
            return entrypoint

        return decorate

    # ------------------------------------------------------------------ running

    @contextlib.contextmanager
    def run(self, *, show_logs: bool = True) -> Iterator[App]:
        """Run the app (ephemerally) for the duration of the `with` block."""
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
    async def deploy(self, *, name: str | None = None, tag: str = "") -> App:
        """Deploy the app: it keeps running after this process exits; each deploy is a new version.

        Calls in flight finish on the old code; new calls run the new code. Other programs
        reach the functions with `nano_modal.Function.from_name(app_name, function_name)`.
        """
        app_name = name or self.name
        if not app_name:
            raise InvalidError("a deployed app needs a name: App('name') or deploy(name=...)")
        client = await Client.get()
        definitions = [await _definition(client, fn) for fn in self.registered_functions.values()]
        response = await client.stub.AppDeploy(
            api_pb2.AppDeployRequest(name=app_name, tag=tag, definitions=definitions)
        )
        self.app_id = response.app_id
        self.deployed_version = response.version
        for fn_name, function_id in response.function_ids.items():
            self.registered_functions[fn_name].object_id = function_id
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
            response = await client.stub.AppCreate(api_pb2.AppCreateRequest(name=self.description, ephemeral=True))
            self.app_id = response.app_id
            if show_logs:
                self._log_task = asyncio.create_task(_print_logs(client, self.app_id))
            self._heartbeat_task = asyncio.create_task(_heartbeat(client, self.app_id))
            for fn in self.registered_functions.values():
                definition = await _definition(client, fn)
                created = await client.stub.FunctionCreate(
                    api_pb2.FunctionCreateRequest(app_id=self.app_id, definition=definition)
                )
                fn.object_id = created.function_id

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
            for fn in self.registered_functions.values():
                fn.object_id = None
            if self._log_task is not None:
                # The log stream ends once every container has exited and its output is in.
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(self._log_task, 10)
                self._log_task = None

    def _hydrate_from_container(self, function_ids: dict[str, str]) -> None:
        for tag, fn in self.registered_functions.items():
            if tag in function_ids:
                fn.object_id = function_ids[tag]


async def _definition(client: Client, fn: Function) -> api_pb2.FunctionDefinition:
    opts = fn.options
    definition = api_pb2.FunctionDefinition(
        name=fn.name,
        is_generator=fn.is_generator,
        is_async=fn.is_async,
        timeout=opts.timeout,
        retries=opts.retries.to_proto(),
        max_containers=opts.max_containers or 0,
        min_containers=opts.min_containers,
        scaledown_window=opts.scaledown_window or 0,
        max_inputs=opts.max_inputs or 0,
        cpu=opts.cpu or 0,
        memory_mb=opts.memory or 0,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        block_network=opts.block_network,
    )
    module_name = fn.raw_f.__module__
    archive = None if (opts.serialized or module_name == "__main__") else source_archive(module_name)
    if archive is None:
        # By value: __main__, notebooks, serialized=True, or a module with no file to ship.
        definition.pickled_blob_id = await client.upload_blob(serialize(fn.raw_f))
    else:
        definition.module_name = module_name
        definition.source_blob_id = await client.upload_blob(archive)
    return definition


async def _heartbeat(client: Client, app_id: str) -> None:
    while True:
        await asyncio.sleep(config.APP_HEARTBEAT_INTERVAL)
        with contextlib.suppress(Exception):
            await client.stub.AppHeartbeat(api_pb2.AppHeartbeatRequest(app_id=app_id), timeout=5)


async def _print_logs(client: Client, app_id: str) -> None:
    """Show what containers print, as it happens, marked with where it came from."""
    with contextlib.suppress(Exception):
        async for batch in client.stub.stream("AppLogs", api_pb2.AppLogsRequest(app_id=app_id)):
            for line in batch.lines:
                out = sys.stdout if line.fd == 1 else sys.stderr
                tag = f"[{line.function_name} {line.container_id[-6:]}]"
                text = line.data if line.data.endswith("\n") else line.data + "\n"
                out.write(f"{tag} {text}")
            sys.stdout.flush()
            sys.stderr.flush()
            if batch.app_done:
                return


def hydrate_in_container(function_ids: dict[str, str]) -> None:
    """Inside a container: give every Function of the imported apps its server-side id."""
    for app in _ACTIVE_APPS:
        app._hydrate_from_container(function_ids)
