"""modal.Sandbox: nano-modal's sandboxes (server/sandboxes.py), through Modal's V1 and V2 methods.

Modal 1.6 creates "V2" sandboxes unless told otherwise (`MODAL_SANDBOX_V2=0`, a GPU, a PTY);
both are one nano-modal sandbox here, its id also its task id. Only the lifecycle goes
through these methods: the commands, stdin and output go through the task command router
(command_router.py), whose URL and JWT SandboxCreateV2 and the *CommandRouterAccess methods
hand out (router_access.py). A Modal function's container creates and drives sandboxes as a
client does, in its app's workspace (the handler checks every id), as nano-modal's own
containers do; not one whose function runs with restrict_modal_access=True (base.py).
"""

from __future__ import annotations

import codecs
import time
from collections.abc import AsyncIterator
from typing import Any

from ...proto import api_pb2 as npb
from ..control import NotFound
from ..sandboxes import SandboxPlane, SandboxState
from ..stats import sandbox_stats
from .base import ENVIRONMENT, Call, ServiceBase
from .images import load_spec
from .router_access import client_auth_token, make_jwt

LONG_POLL_MAX = 50.0  # seconds a SandboxWait may be held here (the client asks again)


def _whole_characters(data: bytes, final: bool) -> tuple[str, int]:
    """`data` as text, and how many of its bytes that is: all but an unfinished UTF-8 character
    at its end, which the next read starts with (V1 reads a sandbox's output as text)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final)
    pending, _ = decoder.getstate()
    return text, len(data) - len(pending)


class SandboxRpcs(ServiceBase):
    sandboxes: SandboxPlane
    router_url: str  # where the client reaches the task command router: this server (handler.attach)
    stdin_index: dict[str, int]  # a V1 sandbox's last SandboxStdinWrite index

    # ------------------------------------------------------------------ create

    def _create(self, request: Any, secret_ids: list[str]) -> Any:
        sandbox = request.definition
        definition = npb.FunctionDefinition(
            name=sandbox.name or "sandbox",
            timeout=float(sandbox.timeout_secs or 0),
            secret_ids=secret_ids,
            cpu=sandbox.resources.milli_cpu / 1000,
            memory_mb=sandbox.resources.memory_mb,
            block_network=sandbox.network_access.network_access_type == self.pb.NetworkAccess.BLOCKED,
            volume_mounts=[
                npb.VolumeMount(mount_path=m.mount_path, volume_id=m.volume_id, read_only=m.read_only)
                for m in sandbox.volume_mounts
            ],
        )
        image = load_spec(self.blobs, sandbox.image_id)
        if image is not None:  # built by the worker before the sandbox starts, as for functions
            definition.image.CopyFrom(image)
        return npb.SandboxCreateRequest(
            app_id=request.app_id,
            definition=definition,
            entrypoint_args=list(sandbox.entrypoint_args),
            idle_timeout=float(sandbox.idle_timeout_secs or 0),
            workdir=sandbox.workdir,
            name=sandbox.name,
        )

    async def _start(self, request: Any, call: Call, secret_ids: list[str]) -> SandboxState:
        sb = await self.sandboxes.create(self._create(request, secret_ids))
        sb.tags = {t.tag_name: t.tag_value for t in request.tags}
        return sb

    async def SandboxCreate(self, request: Any, call: Call) -> Any:
        sb = await self._start(request, call, list(request.definition.secret_ids))
        return self.pb.SandboxCreateResponse(sandbox_id=sb.sandbox_id, metadata=self._metadata(sb))

    async def SandboxCreateV2(self, request: Any, call: Call) -> Any:
        # V2 sends Secret.from_dict and `env=` inline: each becomes an anonymous nano-modal secret
        # (the sandbox plane sets a container's environment from secrets only).
        secret_ids = list(request.definition.secret_ids)
        if request.ephemeral_secrets.contents:  # modal 1.5 sends them here; 1.6 in secret_sources
            env = dict(request.ephemeral_secrets.contents)
            secret_ids.append(self.objects.secrets.create("", ENVIRONMENT, env, False, workspace=call.workspace))
        for source in request.secret_sources:
            if source.HasField("env"):
                env = dict(source.env.contents)
                secret_ids.append(self.objects.secrets.create("", ENVIRONMENT, env, False, workspace=call.workspace))
            elif source.secret_id and source.secret_id not in secret_ids:
                secret_ids.append(source.secret_id)
        sb = await self._start(request, call, secret_ids)
        return self.pb.SandboxCreateV2Response(
            sandbox_id=sb.sandbox_id,
            task_id=sb.sandbox_id,
            metadata=self._metadata(sb),
            command_router_access=self._access(sb.sandbox_id),
        )

    # ------------------------------------------------------------------ state

    def _result(self, sb: SandboxState) -> Any:
        result = self.pb.GenericResult
        if not sb.done:
            return result()
        status = {
            "timeout": result.GENERIC_STATUS_TIMEOUT,
            "terminated": result.GENERIC_STATUS_TERMINATED,
            "failed": result.GENERIC_STATUS_FAILURE,
        }.get(sb.result)
        if status is None:
            status = result.GENERIC_STATUS_SUCCESS if sb.returncode == 0 else result.GENERIC_STATUS_FAILURE
        return result(status=status, exitcode=sb.returncode or 0, exception=sb.reason if sb.result == "failed" else "")

    def _metadata(self, sb: SandboxState) -> Any:
        return self.pb.SandboxHandleMetadata(app_id=sb.app_id, result=self._result(sb))

    async def SandboxWait(self, request: Any, call: Call) -> Any:
        sb = await self.sandboxes.wait(request.sandbox_id, min(max(request.timeout, 0.0), LONG_POLL_MAX))
        return self.pb.SandboxWaitResponse(result=self._result(sb), metadata=self._metadata(sb))

    SandboxWaitV2 = SandboxWait

    async def SandboxGetTaskId(self, request: Any, call: Call) -> Any:
        sb = self.sandboxes.get(request.sandbox_id)
        if sb.done:
            return self.pb.SandboxGetTaskIdResponse(task_result=self._result(sb))
        return self.pb.SandboxGetTaskIdResponse(task_id=sb.sandbox_id)

    SandboxGetTaskIdV2 = SandboxGetTaskId

    async def SandboxTerminate(self, request: Any, call: Call) -> Any:
        sb = self.sandboxes.get(request.sandbox_id)
        existing = self._result(sb)
        self.sandboxes.terminate(request.sandbox_id)
        return self.pb.SandboxTerminateResponse(existing_result=existing)

    SandboxTerminateV2 = SandboxTerminate

    async def SandboxList(self, request: Any, call: Call) -> Any:
        tags = {t.tag_name: t.tag_value for t in request.tags}
        found = [
            sb
            for sb in self.sandboxes.matching(request.app_id, tags, request.include_finished)
            if self._visible(sb.app_id, call)
        ]
        # Newest first, a page before `before_timestamp` (the client asks until a page is empty).
        before = request.before_timestamp or time.time() + 1
        page = sorted((sb for sb in found if sb.created_at < before), key=lambda sb: -sb.created_at)
        return self.pb.SandboxListResponse(sandboxes=[self._info(sb) for sb in page])

    SandboxListV2 = SandboxList

    def _info(self, sb: SandboxState) -> Any:
        return self.pb.SandboxInfo(
            id=sb.sandbox_id,
            created_at=sb.created_at,
            app_id=sb.app_id,
            name=sb.name,
            tags=[self.pb.SandboxTag(tag_name=k, tag_value=v) for k, v in sb.tags.items()],
            task_info=self.pb.TaskInfo(id=sb.sandbox_id, sandbox_id=sb.sandbox_id, result=self._result(sb)),
            metadata=self._metadata(sb),
        )

    def _visible(self, app_id: str, call: Call) -> bool:
        """Whether the caller may see a sandbox of that app: one of its workspace's."""
        app = self.control.apps.get(app_id)
        return app is not None and app.workspace == call.workspace

    async def SandboxGetFromName(self, request: Any, call: Call) -> Any:
        sb = self.sandboxes.from_name(
            request.app_name, request.sandbox_name, visible=lambda app_id: self._visible(app_id, call)
        )
        return self.pb.SandboxGetFromNameResponse(sandbox_id=sb.sandbox_id, metadata=self._metadata(sb))

    SandboxGetFromNameV2 = SandboxGetFromName

    async def SandboxTagsSet(self, request: Any, call: Call) -> Any:
        self.sandboxes.get(request.sandbox_id).tags = {t.tag_name: t.tag_value for t in request.tags}
        return self.proto.empty()

    SandboxTagsSetV2 = SandboxTagsSet

    async def SandboxTagsGet(self, request: Any, call: Call) -> Any:
        tags = self.sandboxes.get(request.sandbox_id).tags
        return self.pb.SandboxTagsGetResponse(
            tags=[self.pb.SandboxTag(tag_name=k, tag_value=v) for k, v in tags.items()]
        )

    SandboxTagsGetV2 = SandboxTagsGet

    async def SandboxGetStats(self, request: Any, call: Call) -> Any:
        """`Sandbox._experimental_stats()`: nano-modal's numbers (server/stats.py); no cost, no
        percentiles (a self-hosted cluster bills nothing and samples no usage)."""
        sb = self.sandboxes.get(request.sandbox_id)
        since = request.since.ToMicroseconds() / 1e6 if request.HasField("since") else 0.0
        until = request.until.ToMicroseconds() / 1e6 if request.HasField("until") else 0.0
        found = sandbox_stats(sb, since, until)
        response = self.pb.SandboxGetStatsResponse(
            duration_hours=found.duration_seconds / 3600,
            billed_cpu_core_seconds=found.duration_seconds * found.requested_cpu,
            billed_memory_gib_seconds=found.duration_seconds * found.requested_memory_mb / 1024,
        )
        response.since.FromMicroseconds(int(found.since * 1e6))
        response.until.FromMicroseconds(int(found.until * 1e6))
        return response

    # ------------------------------------------------------------------ V1's stdio, through this server

    async def SandboxGetLogs(self, request: Any, call: Call) -> AsyncIterator[Any]:
        """The entrypoint's stdout or stderr from byte `last_entry_id` on, as text (V1 sandboxes:
        V2 reads it through the router)."""
        sb = self.sandboxes.get(request.sandbox_id)
        fd = 2 if request.file_descriptor == self.pb.FILE_DESCRIPTOR_STDERR else 1
        offset = int(request.last_entry_id or 0)
        while True:
            out = await self.sandboxes.read(sb.sandbox_id, fd, offset, LONG_POLL_MAX)
            start = out.next_offset - len(out.data)
            text, cut = _whole_characters(out.data, out.eof)
            offset = start + cut
            items = [self.pb.TaskLogs(data=text, file_descriptor=fd)] if cut else []
            eof = out.eof and cut == len(out.data)
            if items or eof:
                yield self.pb.TaskLogsBatch(sandbox_id=sb.sandbox_id, items=items, entry_id=str(offset), eof=eof)
            if eof:
                return

    async def SandboxStdinWrite(self, request: Any, call: Call) -> Any:
        """V1's stdin: each write has the next index; one seen before (a retry) is not written again."""
        sb = self.sandboxes.get(request.sandbox_id)
        if request.index <= self.stdin_index.get(sb.sandbox_id, 0):
            return self.pb.SandboxStdinWriteResponse()
        self.stdin_index[sb.sandbox_id] = request.index
        write = npb.ContainerExecPutInputRequest(exec_id=sb.sandbox_id, data=request.input, eof=request.eof)
        self.sandboxes.write(write)
        return self.pb.SandboxStdinWriteResponse()

    # ------------------------------------------------------------------ the command router

    def _access(self, task_id: str) -> Any:
        """The router's URL and a JWT for one live container: a sandbox, or a function's
        (`modal container exec`; a container id may end in "V", which the client takes for a
        V2 sandbox's task and asks SandboxGetCommandRouterAccess about)."""
        if self.control.containers.get(task_id) is None and task_id not in self.sandboxes.sandboxes:
            raise NotFound(f"container {task_id} not found")
        return self.pb.CommandRouterAccess(url=self.router_url, jwt=make_jwt(self.admin_token, task_id))

    async def AuthTokenGet(self, request: Any, call: Call) -> Any:
        return self.pb.AuthTokenGetResponse(token=client_auth_token())

    async def SandboxGetCommandRouterAccess(self, request: Any, call: Call) -> Any:
        task_id = request.sandbox_id or request.task_id
        # The handler has checked the id is of the caller's workspace. A container drives
        # sandboxes only: `modal container exec` into a function's container is a client's.
        if call.caller.container is not None and task_id not in self.sandboxes.sandboxes:
            raise NotFound(f"sandbox {task_id} not found")
        access = self._access(task_id)
        return self.pb.SandboxGetCommandRouterAccessResponse(url=access.url, jwt=access.jwt)

    async def TaskGetCommandRouterAccess(self, request: Any, call: Call) -> Any:
        call.admin()
        access = self._access(request.task_id)
        return self.pb.TaskGetCommandRouterAccessResponse(url=access.url, jwt=access.jwt)
