"""Deployed apps: named, versioned, living on after the client that deployed them exits.

A deployment is a numbered set of function definitions. Function ids are stable per
(app, function name) across deployments, so handles obtained with `Function.from_name`
keep working; containers running an older version finish the inputs they hold, then exit,
and new containers start with the new code. A rollback deploys an earlier version's
definitions again, as a new version.
"""

from __future__ import annotations

import re
import time
from collections import Counter

from .. import config
from ..proto import api_pb2
from .control import ControlPlane, Invalid, NotFound, checked_tags, new_id
from .state import App, ContainerState
from .store import AppRow, DeploymentRow, FunctionRow

_APP_NAME = re.compile(r"[A-Za-z0-9.-][A-Za-z0-9._-]{0,63}")  # deployed names appear in web URLs


class Deployments:
    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self.store = control.store

    def deploy(
        self, request: api_pb2.AppDeployRequest, rollback_of: int = 0, workspace: str = config.DEFAULT_WORKSPACE
    ) -> api_pb2.AppDeployResponse:
        if not request.name:
            raise Invalid("a deployed app needs a name")
        if not _APP_NAME.fullmatch(request.name):
            raise Invalid(
                f"invalid app name {request.name!r}: use at most 64 letters, digits, '-', '.' or '_', "
                "not starting with '_' (URLs under /_/ belong to the dashboard)"
            )
        names = [d.name for d in request.definitions]
        if len(set(names)) != len(names):
            raise Invalid(f"duplicate function names in deployment: {sorted(names)}")
        tags = checked_tags(dict(request.tags))
        app = self._deployed(request.name, workspace) or self._create(request.name, workspace)
        if tags:  # App(tags=) replaces the app's tags; an app deployed without any keeps what it has
            self.store.set_app_tags(app.app_id, tags)
        version = app.version + 1
        existing = {fn.name: fn.function_id for fn in self.control.app_functions(app.app_id, include_retired=True)}
        function_ids: dict[str, str] = {}
        for definition in request.definitions:
            function_ids[definition.name] = self._upsert(app, existing.get(definition.name), definition, version)
        for name, function_id in existing.items():
            if name not in function_ids:
                self._retire(function_id)
        self.store.add_deployment(
            DeploymentRow(app.app_id, version, request.tag, time.time(), request.SerializeToString(), rollback_of)
        )
        self.store.set_app_version(app.app_id, version)
        app.version = version
        return api_pb2.AppDeployResponse(app_id=app.app_id, version=version, function_ids=function_ids)

    def rollback(self, name: str, version: int, workspace: str = config.DEFAULT_WORKSPACE) -> api_pb2.AppDeployResponse:
        app = self.lookup(name, workspace=workspace)
        history = self.store.deployments(app.app_id)
        if version == 0:
            if len(history) < 2:
                raise Invalid(f"app {name} has no earlier version to roll back to")
            target = history[-2]
        else:
            matches = [d for d in history if d.version == version]
            if not matches:
                raise NotFound(f"app {name} has no version v{version} (it has v1..v{history[-1].version})")
            target = matches[0]
        request = api_pb2.AppDeployRequest.FromString(target.spec)
        request.tag = f"rollback to v{target.version}"
        request.ClearField("tags")  # tags describe the app, not a version: a rollback keeps today's
        return self.deploy(request, rollback_of=target.version, workspace=workspace)

    def lookup(self, name: str, create_if_missing: bool = False, workspace: str = config.DEFAULT_WORKSPACE) -> App:
        app = self._deployed(name, workspace)
        if app is None and create_if_missing:  # in one turn of the loop: two callers get one app
            self.deploy(api_pb2.AppDeployRequest(name=name, tag="created by App.lookup"), workspace=workspace)
            app = self._deployed(name, workspace)
        if app is None:
            raise NotFound(f"no deployed app named {name!r} (deploy it with `nano-modal deploy`)")
        return app

    def function(
        self, app_name: str, function_name: str, workspace: str = config.DEFAULT_WORKSPACE
    ) -> api_pb2.FunctionGetResponse:
        app = self.lookup(app_name, workspace=workspace)
        fn = self.control.function_by_name(app.app_id, function_name)
        if fn is not None:
            return api_pb2.FunctionGetResponse(function_id=fn.function_id, definition=fn.definition)
        known = sorted(f.name for f in self.control.app_functions(app.app_id))
        raise NotFound(f"app {app_name!r} has no function {function_name!r} (it has: {', '.join(known) or 'none'})")

    def summary(self, app: App) -> api_pb2.AppSummary:
        created = self.store.get_app(app.app_id)
        return self._summary(app, created.created_at if created else 0.0, self._live_containers())

    def summaries(self, rows: list[AppRow]) -> list[api_pb2.AppSummary]:
        """One pass over the containers for all of them (a listing was once O(apps x containers))."""
        live = self._live_containers()
        return [self._summary(self.control.app(row.app_id), row.created_at, live) for row in rows]

    def _live_containers(self) -> Counter[str]:
        return Counter(c.app_id for c in self.control.containers.active() if c.live)

    def _summary(self, app: App, created_at: float, live: Counter[str]) -> api_pb2.AppSummary:
        return api_pb2.AppSummary(
            app_id=app.app_id,
            name=app.name,
            state=app.state,
            version=app.version,
            created_at=created_at,
            live_containers=live[app.app_id],
            function_names=[fn.name for fn in self.control.app_functions(app.app_id)],
        )

    def history(self, name: str, workspace: str = config.DEFAULT_WORKSPACE) -> api_pb2.AppHistoryResponse:
        app = self.lookup(name, workspace=workspace)
        return api_pb2.AppHistoryResponse(
            deployments=[
                api_pb2.DeploymentSummary(
                    version=d.version,
                    tag=d.tag,
                    created_at=d.created_at,
                    rollback=bool(d.rollback_of),
                    function_names=[x.name for x in api_pb2.AppDeployRequest.FromString(d.spec).definitions],
                )
                for d in self.store.deployments(app.app_id)
            ]
        )

    # ------------------------------------------------------------------ internals

    def _deployed(self, name: str, workspace: str) -> App | None:
        row = self.store.find_deployed_app(name, workspace)
        return self.control.app(row.app_id) if row else None

    def _create(self, name: str, workspace: str) -> App:
        app_id = new_id("ap")
        self.store.create_app(AppRow(app_id, name, "deployed", False, time.time(), workspace=workspace))
        app = self.control.apps[app_id] = App(app_id, name, ephemeral=False, state="deployed", workspace=workspace)
        return app

    def _upsert(self, app: App, function_id: str | None, definition: api_pb2.FunctionDefinition, version: int) -> str:
        if function_id is None:
            function_id = new_id("fu")
            self.store.create_function(
                FunctionRow(function_id, app.app_id, definition.name, definition.SerializeToString(), time.time())
            )
        else:
            self.store.update_function(function_id, definition.SerializeToString())
        fn = self.control._function(function_id)
        fn.definition = definition
        fn.version = version
        fn.retired = False
        fn.init_failure = None  # the new code gets its own chance to load
        fn.inputs_ready.fire()  # parked containers of the old version wake up and drain
        if definition.is_class:
            self.control.rebind_children(fn)
        if function_id not in app.function_ids:
            app.function_ids.append(function_id)
        return function_id

    def _retire(self, function_id: str) -> None:
        fn = self.control._function(function_id)
        fn.retired = True
        for container in self.control.containers.of_function(function_id):
            if container.state == ContainerState.RUNNING and not container.held:
                self.control.stop_container(container)
