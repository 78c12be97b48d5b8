"""What the server knows of a running or deployed App: `App.info()` and `App.logs`."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._app_tags import tag_problem
from ._logs import LogsManager
from ._utils.aio import twin
from .client import Client
from .exception import ExecutionError, InvalidError, NotFoundError
from .proto import api_pb2
from .types import AppInfo, AppLifecycle, AppState, AppStats

if TYPE_CHECKING:
    from .functions import Function

_STATES = {"deployed": AppState.DEPLOYED, "stopped": AppState.STOPPED}  # else "running": ephemeral


class AppInspection:
    """A mixin of App."""

    name: str | None
    app_id: str | None
    _functions: dict[str, Function]
    _classes: dict[str, Any]

    @property
    def logs(self) -> LogsManager:
        """What the app's containers printed: `app.logs.tail(100)`, `.fetch(since=...)`, `.stream()`."""
        return LogsManager(self._app_and_id)

    async def _app_and_id(self) -> tuple[str, str]:
        if self.app_id is None:
            raise ExecutionError(
                f"app {self.name or '(unnamed)'} is not running: use it inside `with app.run():`, "
                "or look a deployed one up with App.lookup(name)"
            )
        return self.app_id, self.app_id

    @twin
    async def info(self, refresh: bool = False) -> AppInfo:
        """The app's id, name, lifecycle (state, version, when created and deployed) and functions
        (name -> id), from the server (always asked: `refresh` is accepted for Modal compatibility)."""
        del refresh
        app_id, _ = await self._app_and_id()
        client = await Client.get()
        apps = (await client.stub.AppList(api_pb2.AppListRequest())).apps
        summary = next((a for a in apps if a.app_id == app_id), None)
        if summary is None:
            raise NotFoundError(f"app {app_id} is not on the server at {client.server_url}")
        state = _STATES.get(summary.state, AppState.EPHEMERAL)
        deployed_at = None
        if state is AppState.DEPLOYED:
            history = await client.stub.AppHistory(api_pb2.AppHistoryRequest(name=summary.name))
            current = [d for d in history.deployments if d.version == summary.version]
            deployed_at = _time(current[-1].created_at) if current else None
        lifecycle = AppLifecycle(state, summary.version or None, _time(summary.created_at), deployed_at=deployed_at)
        functions, servers = await self._function_ids(client, summary)
        return AppInfo(app_id, summary.name, lifecycle, functions, servers)

    @twin
    async def stats(
        self, *, since: datetime.datetime | None = None, until: datetime.datetime | None = None
    ) -> AppStats:
        """Calls and containers of the app's functions over [since, until) (the last hour by
        default), with its sandboxes and lifecycle. Naive datetimes are local time."""
        from ._stats import app_stats

        app_id, _ = await self._app_and_id()
        lifecycle = (await self.info.aio()).lifecycle
        return await app_stats(await Client.get(), app_id, since, until, lifecycle)

    @twin
    async def set_tags(self, tags: Mapping[str, str], *, client: Any = None) -> None:
        """Replace the running (or deployed) app's tags with `tags`: tags not named are removed."""
        del client  # one client per process (NANO_MODAL_SERVER_URL)
        app_id, _ = await self._app_and_id()
        checked = check_tags(tags)
        connected = await Client.get()
        await connected.stub.AppSetTags(api_pb2.AppSetTagsRequest(app_id=app_id, tags=checked))

    @twin
    async def get_tags(self, *, client: Any = None) -> dict[str, str]:
        """The tags the server holds for the running (or deployed) app."""
        del client
        app_id, _ = await self._app_and_id()
        connected = await Client.get()
        return dict((await connected.stub.AppGetTags(api_pb2.AppGetTagsRequest(app_id=app_id))).tags)

    async def _function_ids(self, client: Client, summary: api_pb2.AppSummary) -> tuple[dict[str, str], dict[str, str]]:
        """Function name -> id, and Server name -> id: this process's handles know theirs; a
        deployed app's are looked up."""
        functions: dict[str, str] = {}
        servers: dict[str, str] = {}
        for name, handle in {**self._functions, **self._classes}.items():
            if handle.object_id is not None:
                is_server = name in self._classes and handle.options.web is not None  # a Server's class
                (servers if is_server else functions)[name] = handle.object_id
        for name in summary.function_names:
            if name not in functions and name not in servers and summary.state == "deployed":
                with contextlib.suppress(NotFoundError):
                    request = api_pb2.FunctionGetRequest(app_name=summary.name, function_name=name)
                    found = await client.stub.FunctionGet(request)
                    is_server = found.definition.is_class and found.definition.web.kind == "web_server"
                    (servers if is_server else functions)[name] = found.function_id
        return functions, servers


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """`tags` as a dict, or InvalidError naming what is wrong with them."""
    checked = dict(tags or {})
    problem = tag_problem(checked)
    if problem:
        raise InvalidError(problem)
    return checked


def _time(timestamp: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
