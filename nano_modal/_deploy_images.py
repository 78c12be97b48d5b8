"""`deploy` builds every image of the app before it publishes the new version, as Modal's deploy
does: each distinct image is built by a worker for a short-lived sandbox in a scratch app (the
worker's build log shows as it goes), so a broken image fails the deploy, not the first call,
and the live version stays as it was."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence

from . import config
from ._app_logs import heartbeat, print_logs
from .client import Client
from .exception import Error, ExecutionError, ImageBuildError
from .proto import api_pb2

BUILD_TIMEOUT = 3600.0  # seconds a build may take (a sandbox's lifetime while its image builds)
_POLL = 0.2  # seconds between looks at a building sandbox


async def build_images(client: Client, app_name: str, definitions: Sequence[api_pb2.FunctionDefinition]) -> None:
    """Build (or find cached) every image the functions use; raise ImageBuildError naming the
    first that fails. An image no worker could take now is said on stderr and left for the first call."""
    images: dict[str, api_pb2.ImageSpec] = {}
    for definition in definitions:
        if definition.HasField("image"):
            images.setdefault(definition.image.image_id, definition.image)
    if not images:
        return
    print(f"nano-modal: building {len(images)} image(s) of {app_name} before deploying", file=sys.stderr)
    async with _build_app(client, f"{app_name}-image-build") as app_id:
        results = await asyncio.gather(*(_build(client, app_id, spec) for spec in images.values()))
    failed = [failure for failure, _ in results if failure]
    if failed:  # its first line: the step's command and output are in the build display above
        reason = failed[0].splitlines()[0].rstrip(":")
        raise ImageBuildError(f"{reason}; {app_name} was not deployed (its deployed version, if any, is unchanged)")


async def build_one(client: Client, spec: api_pb2.ImageSpec, app_id: str | None) -> tuple[str, str]:
    """`Image.build()`: build `spec` now, under `app_id` (a running app) or a scratch app whose
    logs show the build; ImageBuildError if it fails, ExecutionError if no worker can take it.
    Returns the app and the sandbox whose logs hold the build's lines (Image.logs)."""
    if app_id is not None:
        failure, sandbox_id = await _build(client, app_id, spec, strict=True)
    else:
        async with _build_app(client, "image-build") as app_id:
            failure, sandbox_id = await _build(client, app_id, spec, strict=True)
    if failure:
        raise ImageBuildError(failure.splitlines()[0].rstrip(":"))
    return app_id, sandbox_id


@contextlib.asynccontextmanager
async def _build_app(client: Client, name: str) -> AsyncIterator[str]:
    """A scratch app for builds, its logs (the build display) printed while it lives."""
    created = await client.stub.AppCreate(api_pb2.AppCreateRequest(name=name, ephemeral=True))
    app_id = created.app_id
    logs = asyncio.create_task(print_logs(client, app_id))  # the build display (fd IMAGE_BUILD_LOG_FD)
    beat = asyncio.create_task(heartbeat(client, app_id))
    try:
        yield app_id
    finally:
        beat.cancel()
        with contextlib.suppress(Exception):
            await client.stub.AppStop(api_pb2.AppStopRequest(app_id=app_id), timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(logs, 10)  # the stream ends once the build's container has exited


async def _build(client: Client, app_id: str, spec: api_pb2.ImageSpec, strict: bool = False) -> tuple[str, str]:
    """Build `spec` for an idle sandbox, then stop it; what went wrong ("" once it runs) and the
    sandbox. No worker to take it now is said and left for the first call, or raised when `strict`."""
    definition = api_pb2.FunctionDefinition(name="image-build", image=spec, timeout=BUILD_TIMEOUT)
    definition.cpu, definition.memory_mb = config.DEFAULT_CPU, config.DEFAULT_MEMORY_MB
    request = api_pb2.SandboxCreateRequest(app_id=app_id, definition=definition)
    try:
        info = await client.stub.SandboxCreate(request, timeout=60)
    except Error as exc:  # no worker to build it now (none registered, none with room)
        if strict:
            raise ExecutionError(f"image {spec.image_id} cannot be built now: {exc}") from None
        print(f"nano-modal: image {spec.image_id} not checked ({exc}); it is built at the first call", file=sys.stderr)
        return "", ""
    get = api_pb2.SandboxGetRequest(sandbox_id=info.sandbox_id)
    while info.state in ("", "starting"):
        await asyncio.sleep(_POLL)
        info = await client.stub.SandboxGet(get, timeout=30)
    if info.state == "running":
        with contextlib.suppress(Exception):
            await client.stub.SandboxTerminate(get, timeout=30)
        return "", info.sandbox_id
    ended = f"image {spec.image_id}: its sandbox ended ({info.result}, exit code {info.returncode})"
    return info.reason or ended, info.sandbox_id
