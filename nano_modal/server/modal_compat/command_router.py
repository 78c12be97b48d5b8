"""Modal's task command router, served by the server itself: a sandbox's (or any container's)
commands, stdin and output for Modal 1.6's client (`sb.exec`, `sb.stdout`, `sb.stdin`,
`modal container exec`).

In Modal's cloud this service runs on the worker next to the container; here it maps onto
nano-modal's sandbox plane (server/sandboxes.py), whose agent in the container runs the
commands. Each call carries the JWT router_access.py made for one container. The client
names a command by an id it chose; `_execs` maps it to the plane's. Stdin writes carry their
offset in the stream, so a retried write is not written twice.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio

from ...proto import api_pb2 as npb
from ..control import Invalid, NotFound, new_id
from ..sandboxes import ExecState, Finished, SandboxPlane
from .router_access import ROUTER_PREFIX, task_of
from .sandbox_files import UNSERVED_EXIT_CODE, Unserved, fs_builtin

LONG_POLL = 50.0  # seconds one wait inside a read or a wait lasts before it looks again
_FDS = {0: 1, 1: 2}  # the router's STDOUT/STDERR enum values: the plane's fd numbers
_NOT_SERVED = "nano-modal does not serve TaskCommandRouter/{} yet (see docs/MODAL_CLIENT.md)"
_NOT_ACTIVE = "nano-modal: this server is not the active one yet; try again"


class Denied(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class CommandRouter:
    """The served methods. `task_id` in each request is a container (a sandbox's id is its own)."""

    def __init__(self, sandboxes: SandboxPlane) -> None:
        self.sandboxes = sandboxes
        self._execs: dict[tuple[str, str], str] = {}  # (task, the client's exec id) -> the plane's
        self._stdin_at: dict[str, int] = {}  # the plane's exec id -> bytes of stdin written
        self._stdin_closed: set[str] = set()  # the plane's exec ids whose stdin got its EOF

    def _exec_id(self, task_id: str, exec_id: str) -> str:
        found = self._execs.get((task_id, exec_id))
        if found is None:
            raise NotFound(f"process {exec_id} not found in {task_id}")
        return found

    async def TaskExecStart(self, request: Any, sr: Any) -> Any:
        key = (request.task_id, request.exec_id)
        if key not in self._execs:  # a retried start is the same command
            self._forget_finished()
            argv = list(request.command_args)
            try:
                builtin, argv = fs_builtin(argv) or ("", argv)  # Modal's filesystem API (sandbox_files.py)
            except Unserved as exc:
                self._execs[key] = self._failed(request.task_id, exc.stderr())
                return sr.TaskExecStartResponse()
            # `secrets=` and `env=` come as sources: a secret's id, or variables inline.
            env, secret_ids = dict(request.env), list(request.secret_ids)
            for source in request.secret_sources:
                if source.HasField("env"):
                    env.update(source.env.contents)
                elif source.secret_id:
                    secret_ids.append(source.secret_id)
            state = self.sandboxes.exec(
                npb.ContainerExecRequest(
                    container_id=request.task_id,
                    argv=argv,
                    builtin=builtin,
                    workdir=request.workdir,
                    secret_ids=secret_ids,
                    timeout=float(request.timeout_secs),
                    pty=request.HasField("pty_info") and request.pty_info.enabled,
                    env=env,
                )
            )
            self._execs[key] = state.exec_id
        return sr.TaskExecStartResponse()

    def _failed(self, sandbox_id: str, stderr: bytes) -> str:
        """A command that has already failed with `stderr`, as the plane keeps commands."""
        state = ExecState(new_id("ex"), self.sandboxes.get(sandbox_id).sandbox_id)
        state.append(2, stderr)
        state.exited(UNSERVED_EXIT_CODE)
        self.sandboxes.execs[state.exec_id] = state
        return state.exec_id

    def _forget_finished(self) -> None:
        """Drop the ids of commands the plane has forgotten (it keeps finished ones a while)."""
        for key, exec_id in list(self._execs.items()):
            if exec_id not in self.sandboxes.execs:
                del self._execs[key]
                self._stdin_at.pop(exec_id, None)
                self._stdin_closed.discard(exec_id)

    async def _read(self, exec_id: str, fd: int, offset: int) -> AsyncIterator[tuple[int, bytes]]:
        """(offset, data) chunks from `offset` to the end of the stream."""
        while True:
            out = await self.sandboxes.read(exec_id, _FDS.get(fd, 1), offset, LONG_POLL)
            start = out.next_offset - len(out.data)
            if out.data:
                yield start, out.data
            offset = out.next_offset
            if out.eof:
                return

    async def TaskExecStdioRead(self, request: Any, sr: Any) -> AsyncIterator[Any]:
        exec_id = self._exec_id(request.task_id, request.exec_id)
        async for _, data in self._read(exec_id, request.file_descriptor, request.offset):
            yield sr.TaskExecStdioReadResponse(data=data)

    async def SandboxStdioReadV2(self, request: Any, sr: Any) -> AsyncIterator[Any]:
        # The sandbox's entrypoint is the plane's command whose id is the sandbox's.
        self.sandboxes.get(request.task_id)
        async for start, data in self._read(request.task_id, request.file_descriptor, request.offset):
            yield sr.SandboxStdioReadV2Response(data=data, starting_offset=start)

    def _write(self, exec_id: str, offset: int, data: bytes, eof: bool) -> None:
        written = self._stdin_at.get(exec_id, 0)
        fresh = data[max(0, written - offset) :]
        if fresh or eof:
            self.sandboxes.write(npb.ContainerExecPutInputRequest(exec_id=exec_id, data=fresh, eof=eof))
        self._stdin_at[exec_id] = max(written, offset + len(data))
        if eof:
            self._stdin_closed.add(exec_id)

    async def TaskExecStdinWrite(self, request: Any, sr: Any) -> Any:
        exec_id = self._exec_id(request.task_id, request.exec_id)
        self._write(exec_id, request.offset, request.data, request.eof)
        return sr.TaskExecStdinWriteResponse()

    async def TaskExecStdinWriteStream(self, first: Any, rest: AsyncIterator[Any], sr: Any) -> Any:
        """Client streaming: a start (which command, from which offset), data, then an end (EOF)."""
        exec_id = self._exec_id(first.start.task_id, first.start.exec_id)
        offset = first.start.offset
        async for message in rest:
            if message.HasField("end"):
                self._write(exec_id, offset, b"", True)
                break
            self._write(exec_id, offset, message.data, False)
            offset += len(message.data)
        return sr.TaskExecStdinWriteStreamResponse()

    async def TaskExecStdinStatus(self, request: Any, sr: Any) -> Any:
        exec_id = self._exec_id(request.task_id, request.exec_id)
        return sr.TaskExecStdinStatusResponse(
            num_bytes_written=self._stdin_at.get(exec_id, 0), closed=exec_id in self._stdin_closed
        )

    async def SandboxStdinWriteV2(self, request: Any, sr: Any) -> Any:
        self.sandboxes.get(request.task_id)
        self._write(request.task_id, request.offset, request.data, request.eof)
        return sr.SandboxStdinWriteV2Response()

    async def TaskExecPoll(self, request: Any, sr: Any) -> Any:
        state = self.sandboxes.execs.get(self._exec_id(request.task_id, request.exec_id))
        if state is None or state.returncode is None:
            return sr.TaskExecPollResponse()  # neither code nor signal: still running
        return sr.TaskExecPollResponse(code=state.returncode)

    async def TaskExecWait(self, request: Any, sr: Any) -> Any:
        exec_id = self._exec_id(request.task_id, request.exec_id)
        while True:
            state = await self.sandboxes.wait_exec(exec_id, LONG_POLL)
            if state.returncode is not None:
                return sr.TaskExecWaitResponse(code=state.returncode)

    async def SandboxWaitUntilReady(self, request: Any, sr: Any) -> Any:
        return sr.SandboxWaitUntilReadyTcrResponse(ready_at=time.time())  # no readiness probes: ready


class CommandRouterHandler(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Registered on the server's gRPC port with Modal's own service; serves once `target` is set."""

    def __init__(self) -> None:
        self.sr: Any = importlib.import_module("modal_proto.task_command_router_pb2")
        self.service_descriptor = self.sr.DESCRIPTOR.services_by_name["TaskCommandRouter"]
        self.target: CommandRouter | None = None
        self.admin_token = ""

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        full_name: str = handler_call_details.method
        if not full_name.startswith(ROUTER_PREFIX):
            return None
        name = full_name.removeprefix(ROUTER_PREFIX)
        method = self.service_descriptor.methods_by_name.get(name)
        if method is None or getattr(CommandRouter, name, None) is None:
            return grpc.unary_unary_rpc_method_handler(_refuse(_NOT_SERVED.format(name)))
        options: dict[str, Any] = {
            "request_deserializer": getattr(self.sr, method.input_type.name).FromString,
            "response_serializer": getattr(self.sr, method.output_type.name).SerializeToString,
        }
        if method.client_streaming:
            return grpc.stream_unary_rpc_method_handler(self._client_stream(name), **options)
        if method.server_streaming:
            return grpc.unary_stream_rpc_method_handler(self._stream(name), **options)
        return grpc.unary_unary_rpc_method_handler(self._unary(name), **options)

    def _begin(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> CommandRouter:
        if self.target is None:
            raise Denied(grpc.StatusCode.UNAVAILABLE, _NOT_ACTIVE)
        headers = {key: str(value) for key, value in context.invocation_metadata() or ()}
        granted = task_of(self.admin_token, headers.get("authorization", ""))
        if granted is None:  # the client fetches a fresh JWT and tries again
            raise Denied(grpc.StatusCode.UNAUTHENTICATED, "nano-modal: the command router's JWT is not valid")
        if request.task_id != granted:
            raise Denied(grpc.StatusCode.PERMISSION_DENIED, f"nano-modal: this JWT is for {granted} only")
        return self.target

    def _unary(self, name: str) -> Callable[[Any, Any], Any]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await getattr(self._begin(request, context), name)(request, self.sr)
            except (Denied, NotFound, Invalid, Finished) as exc:
                await context.abort(_code(exc), str(exc))

        return handle

    def _stream(self, name: str) -> Callable[[Any, Any], AsyncIterator[Any]]:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                async for response in getattr(self._begin(request, context), name)(request, self.sr):
                    yield response
            except (Denied, NotFound, Invalid, Finished) as exc:
                await context.abort(_code(exc), str(exc))

        return handle

    def _client_stream(self, name: str) -> Callable[[Any, Any], Any]:
        """A client-streaming method: its first message names the container (`start`)."""

        async def handle(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                first = await anext(aiter(requests))
                router = self._begin(first.start, context)
                return await getattr(router, name)(first, requests, self.sr)
            except (Denied, NotFound, Invalid, Finished) as exc:
                await context.abort(_code(exc), str(exc))

        return handle


def _code(exc: Exception) -> grpc.StatusCode:
    if isinstance(exc, Denied):
        return exc.code
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, Finished):
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode.INVALID_ARGUMENT


def _refuse(message: str) -> Callable[[bytes, Any], Any]:
    async def refuse(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, message)
        raise AssertionError("unreachable")

    return refuse
