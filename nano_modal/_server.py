"""`nano_modal.Server`: a class whose `@enter` starts an HTTP server on a port, served at a URL.

```python
@app.server(port=8000, unauthenticated=True)
class Files:
    @nano_modal.enter()
    def start(self):
        self.proc = subprocess.Popen(["python", "-m", "http.server", "8000"])

    @nano_modal.exit()
    def stop(self):
        self.proc.terminate()

print(Files.get_url())   # http://HOST:PORT/<app>/Files/
```

A Server is a class with no methods whose definition carries a `web_server` endpoint: its
containers run the class's @enter hooks when they start, and the gateway relays every request
under its URL to the port, as for `@web_server` functions. It scales like any function
(min/max containers, scaledown window); `update_autoscaler` changes that while it runs.
"""

from __future__ import annotations

import copy
import datetime
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._definition import FunctionOptions
from ._function_info import gpus
from ._porting_options import note_ignored
from ._server_sessions import is_sessioned
from ._utils.aio import twin
from ._web_host import endpoint_url
from .client import Client
from .cls import ENTER_MARK, METHOD_MARK, Cls, _parameters, hook_methods
from .exception import InvalidError, NotFoundError
from .proto import api_pb2
from .types import ServerAutoscalerSettings, ServerInfo, ServerStats, VolumeMountInfo

if TYPE_CHECKING:
    from ._logs import LogsManager
    from ._server_sessions import ServerSessionsManager
    from ._stats import ServerMetricsManager
    from .app import App

DEFAULT_PORT = 8000  # Modal's default for app.server(port=)
DEFAULT_STARTUP_TIMEOUT = 30  # seconds for the port to accept connections (Modal's default)
MAX_EXIT_GRACE_PERIOD = 3600  # Modal's bound on exit_grace_period
# Requests one container takes at once when neither target_concurrency nor max_concurrency is
# given: an HTTP server serves many requests together (Modal does not bound them by default),
# but some bound lets the autoscaler start a second container when one is saturated.
DEFAULT_CONCURRENT_REQUESTS = 32


def server_endpoint(port: int, startup_timeout: float, unauthenticated: bool) -> api_pb2.WebEndpoint:
    """What the gateway needs to relay requests to a Server's containers."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidError(f"app.server(port=...) must be a TCP port number (1-65535), got {port!r}")
    if startup_timeout <= 0:
        raise InvalidError(f"app.server(startup_timeout=...) must be positive, got {startup_timeout!r}")
    return api_pb2.WebEndpoint(
        kind="web_server", port=port, startup_timeout=startup_timeout, requires_proxy_auth=not unauthenticated
    )


def concurrent_requests(target_concurrency: float | None, max_concurrency: int | None) -> int:
    """Requests a container takes at once: nano-modal's autoscaler fills a container up to this
    before it starts another, which is what Modal's target_concurrency asks for."""
    if target_concurrency is not None and target_concurrency < 0:
        raise InvalidError(f"app.server(target_concurrency=...) must not be negative, got {target_concurrency!r}")
    if max_concurrency is not None and (isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)):
        raise InvalidError(f"app.server(max_concurrency=...) must be an integer, got {max_concurrency!r}")
    if max_concurrency is not None and max_concurrency < 0:
        raise InvalidError(f"app.server(max_concurrency=...) must not be negative, got {max_concurrency!r}")
    if target_concurrency and max_concurrency and target_concurrency > max_concurrency:
        raise InvalidError("app.server(target_concurrency=...) cannot be greater than max_concurrency")
    if target_concurrency:
        return math.ceil(target_concurrency)
    return max_concurrency or DEFAULT_CONCURRENT_REQUESTS


def check_server_class(user_cls: Any, exit_grace_period: int) -> None:
    """What Modal refuses on an @app.server class, refused here with the same reasons."""
    if not isinstance(user_cls, type):
        raise InvalidError(f"@app.server() needs a class, got {user_cls!r}")
    name = user_cls.__name__
    if not 0 <= exit_grace_period <= MAX_EXIT_GRACE_PERIOD:
        raise InvalidError(f"app.server(exit_grace_period=...) must be 0-{MAX_EXIT_GRACE_PERIOD} seconds")
    if _parameters(user_cls):
        raise InvalidError(f"Server class {name} cannot use nano_modal.parameter(): servers take no parameters")
    if not hook_methods(user_cls, ENTER_MARK):
        raise InvalidError(f"Server class {name} needs an @nano_modal.enter() method that starts its HTTP server")
    if any(getattr(member, METHOD_MARK, False) for member in vars(user_cls).values()):
        raise InvalidError(f"Server class {name} cannot have @nano_modal.method()s: servers only serve HTTP")
    if any("__init__" in vars(klass) for klass in user_cls.__mro__[:-1]):  # all but object's
        raise InvalidError(f"Server class {name} cannot have an __init__: start things in @nano_modal.enter()")


@dataclass
class _Located:
    """A Server as the platform knows it: its id, its app, and the app reference in its URL."""

    function_id: str
    app_id: str
    app_ref: str  # the app's name (deployed) or id (ephemeral, or a handle from from_id)


class Server:
    """A class registered with `@app.server()`, or a handle on one (`Server.from_name`)."""

    def __init__(self, cls: Cls) -> None:
        self._cls = cls  # the class the app deploys: its definition carries the web_server endpoint
        self._lookup: tuple[str, str] | None = None  # from_name: (app name, server name)
        self._located: _Located | None = None

    def __repr__(self) -> str:
        return f"<nano_modal.Server {self.name}>"

    @property
    def name(self) -> str:
        return self._cls.name

    @property
    def raw_f(self) -> type | None:
        """The user's class (the container loads it through this, as for Cls)."""
        return self._cls.raw_f

    @property
    def object_id(self) -> str | None:
        """The Server's id once resolved (it is its function's id)."""
        return self._located.function_id if self._located else self._cls.object_id

    @property
    def app(self) -> App | None:
        return self._cls.app

    # ------------------------------------------------------------------ handles

    @staticmethod
    def from_name(app_name: str, name: str, *, environment_name: str | None = None) -> Server:
        """A handle on a Server of a deployed app, resolved on first use."""
        del environment_name  # one environment per server for now
        server = Server(Cls(None, None, name, FunctionOptions()))
        server._lookup = (app_name, name)
        return server

    @staticmethod
    def from_id(server_id: str) -> Server:
        """A handle on a Server by its id (`server.object_id`, sent by another process)."""
        server = Server(Cls(None, None, server_id, FunctionOptions()))
        server._cls.object_id = server_id
        return server

    async def _locate(self) -> tuple[Client, _Located]:
        client = await Client.get()
        # A local app's Server gets a new id each run: what was found for another run is stale.
        if self._located is not None and (self._lookup or self._located.function_id == self._cls.object_id):
            return client, self._located
        if self._lookup is not None:
            app_name, name = self._lookup
            found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(app_name=app_name, function_name=name))
            app_ref = app_name
        else:
            function_id, _ = await self._cls._resolve()  # a local app starts here if it must
            found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=function_id))
            app_ref = self._cls._web_app_ref or found.app_id
        _check_is_server(found, self.name)
        self._cls.name = found.definition.name  # from_id: known now
        self._located = _Located(found.function_id, found.app_id, app_ref)
        return client, self._located

    async def _definition(self) -> tuple[Client, _Located, api_pb2.FunctionDefinition]:
        """The definition as the server holds it now (update_autoscaler changes it)."""
        client, located = await self._locate()
        found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=located.function_id))
        return client, located, found.definition

    async def _hydrated(self) -> tuple[Client, str]:
        """The client and the Server's function id (what Function.metrics' manager asks of its object)."""
        client, located = await self._locate()
        return client, located.function_id

    @twin
    async def hydrate(self) -> Server:
        """Resolve the Server now (from_name: NotFoundError here if it is not deployed)."""
        await self._locate()
        return self

    # ------------------------------------------------------------------ live

    @twin
    async def get_url(self) -> str | None:
        """The URL the Server answers at (None if the server has no HTTP gateway)."""
        client, located = await self._locate()
        if not client.web_base_url:
            return None
        return endpoint_url(client.web_base_url, client.web_domain, client.workspace, located.app_ref, self.name)

    @twin
    async def info(self, *, refresh: bool = False) -> ServerInfo:
        """The Server's HTTP settings and resources, as the server holds them (always asked:
        `refresh` is accepted for Modal compatibility)."""
        del refresh
        _, _, definition = await self._definition()
        web = definition.web
        url = await self.get_url.aio()
        return ServerInfo(
            server_url=url or "",
            port=web.port,
            unauthenticated=not web.requires_proxy_auth,
            h2_enabled=False,
            routing_region=None,
            sessioned=web.sessioned,
            startup_timeout=int(web.startup_timeout),
            exit_grace_period=0,
            image_info=ServerInfo.ImageInfo(None, definition.image.image_id or None),
            cpu=definition.cpu or None,
            memory_mib=definition.memory_mb or None,
            gpus=gpus(definition.gpu),
            ephemeral_disk_mib=None,
            nonpreemptible=True,
            compute_regions=None,
            cloud=None,
            cluster_info=None,
            volumes={m.mount_path: VolumeMountInfo(None, m.volume_id, m.read_only) for m in definition.volume_mounts},
            cloud_bucket_mounts={},
            secrets=list(definition.secret_ids),
        )

    @property
    def logs(self) -> LogsManager:
        """What the Server's containers printed (`server.logs.tail(100)`, `.fetch(since=)`, `.stream()`)."""
        from ._logs import LogsManager

        async def app_and_id() -> tuple[str, str]:
            _, located = await self._locate()
            return located.app_id, located.function_id

        return LogsManager(app_and_id, keep=lambda line, _: line.function_name == self.name)

    @twin
    async def stats(
        self,
        *,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        container: str | None = None,
    ) -> ServerStats:
        """The Server's web requests and containers over [since, until) (the last hour by
        default; naive datetimes are local time), or only those of one container (`container=`,
        an id from `server.logs` or the dashboard). Each request is one input of the Server's
        function, counted and timed as Function.stats counts inputs."""
        from ._stats import server_stats

        client, function_id = await self._hydrated()
        return await server_stats(client, function_id, since, until, container)

    @property
    def metrics(self) -> ServerMetricsManager:
        """Time series of the Server's requests, latencies and containers:
        `server.metrics.export(since=, bucket_size=)`, `server.metrics.schema()`."""
        from ._stats import ServerMetricsManager

        return ServerMetricsManager(self)

    @property
    def sessions(self) -> ServerSessionsManager:
        """`server.sessions.start(idle_timeout=)` and `.terminate(token)` (a `@sessioned()` Server)."""
        from ._server_sessions import ServerSessionsManager

        return ServerSessionsManager(self)

    @property
    def autoscaler(self) -> ServerAutoscalerManager:
        """`server.autoscaler.settings()` and `server.autoscaler.update(...)`."""
        return ServerAutoscalerManager(self)

    @twin
    async def update_autoscaler(
        self,
        *,
        target_concurrency: float | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaleup_window: int | None = None,
        scaledown_window: int | None = None,
    ) -> ServerAutoscalerSettings:
        """Change the running Server's scaling at once, without redeploying (until the next deploy).
        Options not given keep their value."""
        note_ignored(
            "Server.update_autoscaler", {"buffer_containers": buffer_containers, "scaleup_window": scaleup_window}
        )
        client, located = await self._locate()
        if target_concurrency is not None:
            _, _, definition = await self._definition()
            if concurrent_requests(target_concurrency, None) != definition.max_concurrent_inputs:
                raise InvalidError(
                    f"{self.name}: requests per container are fixed when a Server is deployed; "
                    "redeploy with app.server(target_concurrency=...) to change them"
                )
        request = api_pb2.FunctionUpdateAutoscalerRequest(
            function_id=located.function_id,
            min_containers=min_containers,
            max_containers=max_containers,
            scaledown_window=scaledown_window,
        )
        return server_autoscaler_settings((await client.stub.FunctionUpdateAutoscaler(request)).definition)


class ServerAutoscalerManager:
    """`Server.autoscaler`: the live Server's scaling, read and changed."""

    def __init__(self, server: Server) -> None:
        self._server = server

    @twin
    async def settings(self) -> ServerAutoscalerSettings:
        """The scaling the Server runs with now (its decorator's, or what update() set since)."""
        _, _, definition = await self._server._definition()
        return server_autoscaler_settings(definition)

    @twin
    async def update(
        self,
        *,
        target_concurrency: float | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
        scaleup_window: int | None = None,
    ) -> ServerAutoscalerSettings:
        """As `Server.update_autoscaler`."""
        result: ServerAutoscalerSettings = await self._server.update_autoscaler.aio(
            target_concurrency=target_concurrency,
            min_containers=min_containers,
            max_containers=max_containers,
            buffer_containers=buffer_containers,
            scaledown_window=scaledown_window,
            scaleup_window=scaleup_window,
        )
        return result


def server_autoscaler_settings(definition: api_pb2.FunctionDefinition) -> ServerAutoscalerSettings:
    return ServerAutoscalerSettings(
        target_concurrency=definition.max_concurrent_inputs or None,
        min_containers=definition.min_containers,
        max_containers=definition.max_containers or None,
        buffer_containers=None,
        scaleup_window=None,
        scaledown_window=int(definition.scaledown_window) or None,
    )


def _check_is_server(found: api_pb2.FunctionGetResponse, name: str) -> None:
    definition = found.definition
    if not (definition.is_class and definition.web.kind == "web_server"):
        kind = "class" if definition.is_class else "function"
        use = "Cls.from_name" if definition.is_class else "Function.from_name"
        raise NotFoundError(f"{name} is a {kind}, not a Server: use nano_modal.{use}")


def server_decorator(
    app: App, options: FunctionOptions, web: api_pb2.WebEndpoint, exit_grace_period: int, name: str | None
) -> Callable[[type], Server]:
    """The decorator `App.server(...)` returns: the class becomes one of the app's classes,
    whose definition carries the web_server endpoint."""

    def decorate(user_cls: type) -> Server:
        check_server_class(user_cls, exit_grace_period)
        tag = app._tag(name or user_cls.__qualname__, options.serialized)
        server_options = copy.copy(options)
        server_options.web = api_pb2.WebEndpoint()
        server_options.web.CopyFrom(web)
        server_options.web.sessioned = is_sessioned(user_cls)
        server_options.validate(tag)
        cls = Cls(app, user_cls, tag, server_options)
        app._classes[tag] = cls
        return Server(cls)

    return decorate
