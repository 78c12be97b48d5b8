"""Session and app methods: hello, apps (create, heartbeat, publish, disconnect, stop), logs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from ..dashboard import PREFIX as DASHBOARD_PREFIX
from ..deployments import Deployments
from .base import ENVIRONMENT, Call, ServiceBase
from .mounts import IMAGE_BUILDER_VERSION

_LOG_STREAM_DEFAULT = 55.0  # seconds one AppGetLogs stream lasts when the client names none; it reconnects


def app_page_url(web_base_url: str, app_id: str) -> str:
    """The app's page on the dashboard of the server's HTTP gateway at `web_base_url`: Modal's
    app page, which `modal run` ("View run at") and `modal deploy` ("View Deployment") print."""
    return f"{web_base_url}{DASHBOARD_PREFIX}/apps/{app_id}"


class AppRpcs(ServiceBase):
    deployments: Deployments
    web_base_url: str

    async def ClientHello(self, request: Any, call: Call) -> Any:
        return self.pb.ClientHelloResponse()

    async def EnvironmentGetOrCreate(self, request: Any, call: Call) -> Any:
        return self.pb.EnvironmentGetOrCreateResponse(
            environment_id=f"en-{ENVIRONMENT}",
            metadata=self.pb.EnvironmentMetadata(
                name=ENVIRONMENT, settings=self.pb.EnvironmentSettings(image_builder_version=IMAGE_BUILDER_VERSION)
            ),
        )

    async def AppCreate(self, request: Any, call: Call) -> Any:
        call.admin()
        if request.app_state == self.pb.APP_STATE_INITIALIZING:  # the first `modal deploy` of this name
            # The deployed app itself (empty until AppPublish), so that the functions created next
            # are its own and keep their ids across deployments.
            app_id = self.deployments.lookup(request.description, True, workspace=call.workspace).app_id
            if request.tags:
                self.control.set_app_tags(app_id, dict(request.tags))
        else:
            ephemeral = request.app_state in (self.pb.APP_STATE_EPHEMERAL, self.pb.APP_STATE_UNSPECIFIED)
            app_id = self.control.create_app(
                request.description or "app", ephemeral, workspace=call.workspace, tags=dict(request.tags)
            )
        return self.pb.AppCreateResponse(app_id=app_id, app_page_url=app_page_url(self.web_base_url, app_id))

    async def AppSetTags(self, request: Any, call: Call) -> Any:
        call.admin()
        self.control.set_app_tags(request.app_id, dict(request.tags))
        return self.proto.empty()

    async def AppGetTags(self, request: Any, call: Call) -> Any:
        return self.pb.AppGetTagsResponse(tags=self.control.app_tags(request.app_id))

    async def AppHeartbeat(self, request: Any, call: Call) -> Any:
        call.admin()
        self.control.heartbeat_app(request.app_id)
        return self.proto.empty()

    async def AppClientDisconnect(self, request: Any, call: Call) -> Any:
        """The client of an ephemeral app (`modal run`) is done with it: stop it."""
        call.admin()
        if self.control.app(request.app_id).ephemeral:
            self.control.stop_app(request.app_id)
        return self.proto.empty()

    async def AppStop(self, request: Any, call: Call) -> Any:
        call.admin()
        self.control.stop_app(request.app_id)
        return self.proto.empty()

    async def AppList(self, request: Any, call: Call) -> Any:
        """`modal app list`: every app of the caller's workspace, whichever SDK made it."""
        call.admin()
        states = {
            "deployed": self.pb.APP_STATE_DEPLOYED,
            "stopped": self.pb.APP_STATE_STOPPED,
            "running": self.pb.APP_STATE_EPHEMERAL,
        }
        live = Counter(c.app_id for c in self.control.containers.all() if c.live)
        item = self.pb.AppListResponse.AppListItem
        return self.pb.AppListResponse(
            apps=[
                item(
                    app_id=row.app_id,
                    description=row.name,
                    name=row.name if row.state == "deployed" else "",
                    state=states.get(row.state, self.pb.APP_STATE_UNSPECIFIED),
                    created_at=row.created_at,
                    n_running_tasks=live[row.app_id],
                )
                for row in self.control.store.list_apps(call.workspace)
            ]
        )

    async def TaskList(self, request: Any, call: Call) -> Any:
        """The live containers (Modal's tasks) of the caller's workspace, of one app or of all."""
        call.admin()
        tasks = [
            self.pb.TaskStats(task_id=c.container_id, app_id=c.app_id, app_description=self.control.app(c.app_id).name)
            for c in self.control.containers.all()
            if c.live and c.workspace == call.workspace and (not request.app_id or c.app_id == request.app_id)
        ]
        return self.pb.TaskListResponse(tasks=tasks)

    async def AppGetLayout(self, request: Any, call: Call) -> Any:
        functions = {fn.name: fn.function_id for fn in self.control.app_functions(request.app_id)}
        return self.pb.AppGetLayoutResponse(app_layout=self.pb.AppLayout(function_ids=functions))

    async def AppGetLogs(self, request: Any, call: Call) -> AsyncIterator[Any]:
        """The app's container output as it comes, until the app is done or the stream's time is up."""
        call.admin()
        self.control.app(request.app_id)
        duration = request.timeout or _LOG_STREAM_DEFAULT
        stream = cast(AsyncGenerator[list[Any], None], self.control.follow_logs(request.app_id))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    lines = await asyncio.wait_for(anext(stream), remaining)
                except (StopAsyncIteration, TimeoutError):
                    break
                by_container: dict[str, list[Any]] = {}
                for line in lines:
                    by_container.setdefault(line.container_id, []).append(
                        self.pb.TaskLogs(
                            data=line.data,
                            file_descriptor=line.fd or self.pb.FILE_DESCRIPTOR_STDOUT,
                            timestamp=line.timestamp,
                            container_id=line.container_id,
                        )
                    )
                for container_id, items in by_container.items():
                    yield self.pb.TaskLogsBatch(task_id=container_id, items=items, entry_id=str(time.time_ns()))
            if self.control.app_finished(self.control.app(request.app_id)):
                yield self.pb.TaskLogsBatch(app_done=True)
        finally:
            await stream.aclose()
