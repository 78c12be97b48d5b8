"""The gRPC face of dicts, queues, secrets and volumes (a mixin of service.Service).

Every object RPC accepts the admin token or a container's token, so code inside a function
uses the same objects as the client that launched it. Containers cannot read secrets
through any RPC: secret values reach a container only through its environment.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
import grpc.aio

from .. import config
from .._bucket_sync import server_entry
from .._image_names import is_full_image_tag
from ..proto import api_pb2
from .blobs import BlobWriter
from .control import ControlPlane, Invalid, NotFound
from .kv import Dicts, QueueItems, Queues, QueueStorageUnavailable
from .objects import AlreadyExists, InUse, ObjectRegistry
from .secret_store import Secrets, load_or_create_key, secret_key_path
from .state import Container, FunctionRuntime
from .store import Store, VolumeFileRow
from .volumes import VolumeBlobs, Volumes

log = logging.getLogger("nano_modal.server")
# A published image definition (steps and their arguments; files travel as blobs): a bound on a row.
MAX_PUBLISHED_SPEC = 4 * 1024 * 1024
Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class ObjectPlane:
    """Everything the server knows about objects, wired to the control plane."""

    def __init__(
        self, store: Store, control: ControlPlane, state_dir: Path, queue_items: QueueItems | None = None
    ) -> None:
        self.control = control
        self.registry = ObjectRegistry(store, control)
        self.dicts = Dicts(store, self.registry)
        self.queues = Queues(store, self.registry, queue_items)  # items in the store unless given (Redis)
        self.secrets = Secrets(store, self.registry, load_or_create_key(secret_key_path(state_dir)))
        self.volumes = Volumes(store, self.registry, VolumeBlobs(state_dir / "volumes"))
        self.registry.recover()

    def container_env(self, fn: FunctionRuntime) -> dict[str, str]:
        """What a new container of `fn` gets in its environment: its secrets, its volume mounts and
        its bucket mounts (with their credentials, which the worker takes out)."""
        definition = fn.definition
        env: dict[str, str] = {}
        for secret_id in definition.secret_ids:
            try:
                env.update(self.secrets.variables(secret_id))
            except (NotFound, Invalid) as exc:
                # It was deleted after the function was created: start without it, say so (no values).
                log.warning("function %s: secret %s is unavailable: %s", fn.name, secret_id, exc)
        if definition.volume_mounts:
            mounts = [
                {"path": m.mount_path, "volume_id": m.volume_id, "read_only": m.read_only}
                for m in definition.volume_mounts
            ]
            env[config.ENV_VOLUMES] = json.dumps(mounts)
        if definition.cloud_bucket_mounts:
            env[config.ENV_BUCKETS] = json.dumps([self._bucket_entry(fn, m) for m in definition.cloud_bucket_mounts])
        return env

    def _bucket_entry(self, fn: FunctionRuntime, mount: api_pb2.CloudBucketMount) -> dict[str, Any]:
        variables: dict[str, str] = {}
        for secret_id in mount.secret_ids:
            try:
                variables.update(self.secrets.variables(secret_id))
            except (NotFound, Invalid) as exc:  # deleted since: the bucket is read without credentials
                log.warning("function %s: its bucket's secret %s is unavailable: %s", fn.name, secret_id, exc)
        return server_entry(mount, variables)

    async def reap_forever(self) -> None:
        while True:
            await asyncio.sleep(config.EPHEMERAL_OBJECT_HEARTBEAT)
            try:
                self.registry.reap_ephemeral()
            except Exception:
                log.exception("reaping ephemeral objects failed")

    async def expire_queue_partitions_forever(self) -> None:
        try:
            await self.queues.delete_leftovers()
        except Exception:
            log.exception("deleting the items of deleted queues failed")
        while True:
            await asyncio.sleep(config.QUEUE_EXPIRY_INTERVAL)
            try:
                await self.queues.expire()
            except Exception:
                log.exception("expiring queue partitions failed")


class ObjectRpcs:
    """RPC handlers for objects. Service provides `objects`, `control` and `caller`."""

    objects: ObjectPlane
    control: ControlPlane

    def caller(self) -> Container | None:  # provided by Service: checked by the RPC's role (rpc_roles.py)
        raise NotImplementedError

    def workspace(self) -> str:  # provided by Service: names are looked up in the caller's workspace only
        raise NotImplementedError

    async def _run(self, context: Context, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except (Invalid, ValueError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except AlreadyExists as exc:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        except InUse as exc:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        raise AssertionError("unreachable")  # abort raises

    async def _await(self, context: Context, coro: Any) -> Any:
        try:
            return await coro
        except NotFound as exc:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except Invalid as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except QueueStorageUnavailable as exc:  # not UNAVAILABLE: the server is up, clients must not fail over
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))

    # ------------------------------------------------------------------ objects

    async def ObjectGetOrCreate(
        self, request: api_pb2.ObjectGetOrCreateRequest, context: Context
    ) -> api_pb2.ObjectGetOrCreateResponse:

        workspace = self.workspace()

        def resolve() -> api_pb2.ObjectGetOrCreateResponse:
            row, created = self.objects.registry.get_or_create(
                request.kind,
                request.name,
                request.environment_name,
                request.create_if_missing,
                request.ephemeral,
                workspace=workspace,
            )
            if request.required_keys:
                self.objects.secrets.check_required(row.object_id, list(request.required_keys))
            return api_pb2.ObjectGetOrCreateResponse(object_id=row.object_id, created=created)

        return await self._run(context, resolve)

    async def ObjectList(self, request: api_pb2.ObjectListRequest, context: Context) -> api_pb2.ObjectListResponse:
        workspace = self.workspace()
        rows = await self._run(
            context, lambda: self.objects.registry.list_named(request.kind, request.environment_name, workspace)
        )
        return api_pb2.ObjectListResponse(
            objects=[
                api_pb2.ObjectInfo(
                    object_id=r.object_id,
                    kind=cast(api_pb2.ObjectKind, r.kind),
                    name=r.name or "",
                    environment_name=r.environment,
                    created_at=r.created_at,
                    updated_at=r.updated_at,
                    ephemeral=r.ephemeral,
                )
                for r in rows
            ]
        )

    async def ObjectDelete(self, request: api_pb2.ObjectDeleteRequest, context: Context) -> api_pb2.Empty:
        workspace = self.workspace()
        await self._run(
            context,
            lambda: self.objects.registry.delete(
                request.kind,
                request.name,
                request.environment_name,
                request.object_id,
                request.allow_missing,
                workspace=workspace,
            ),
        )
        return api_pb2.Empty()

    async def ObjectRename(self, request: api_pb2.ObjectRenameRequest, context: Context) -> api_pb2.Empty:
        workspace = self.workspace()
        await self._run(
            context,
            lambda: self.objects.registry.rename(
                request.kind, request.name, request.environment_name, request.new_name, workspace=workspace
            ),
        )
        return api_pb2.Empty()

    async def ImagePublish(self, request: api_pb2.ImagePublishRequest, context: Context) -> api_pb2.Empty:
        if not is_full_image_tag(request.tag):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid image tag {request.tag!r}")
        spec = request.spec.SerializeToString()
        if len(spec) > MAX_PUBLISHED_SPEC:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"image definition over {MAX_PUBLISHED_SPEC} bytes")
        workspace = self.workspace()
        await self._run(context, lambda: self.objects.registry.store.publish_image(workspace, request.tag, spec))
        return api_pb2.Empty()

    async def ImageGetByTag(self, request: api_pb2.ImageGetByTagRequest, context: Context) -> api_pb2.ImageSpec:
        workspace = self.workspace()
        found = await self._run(context, lambda: self.objects.registry.store.image_by_tag(workspace, request.tag))
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no image published as {request.tag!r}")
        return api_pb2.ImageSpec.FromString(found)

    async def ObjectHeartbeat(self, request: api_pb2.ObjectHeartbeatRequest, context: Context) -> api_pb2.Empty:
        await self._run(context, lambda: self.objects.registry.heartbeat(request.object_id))
        return api_pb2.Empty()

    # ------------------------------------------------------------------ dicts

    async def DictGet(self, request: api_pb2.DictGetRequest, context: Context) -> api_pb2.DictGetResponse:
        value = await self._run(context, lambda: self.objects.dicts.get(request.dict_id, request.key))
        return api_pb2.DictGetResponse(found=value is not None, value=value or b"")

    async def DictUpdate(self, request: api_pb2.DictUpdateRequest, context: Context) -> api_pb2.DictUpdateResponse:
        entries = [(e.key, e.value) for e in request.entries]
        created = await self._run(
            context, lambda: self.objects.dicts.update(request.dict_id, entries, request.if_not_exists)
        )
        return api_pb2.DictUpdateResponse(created=created)

    async def DictPop(self, request: api_pb2.DictGetRequest, context: Context) -> api_pb2.DictGetResponse:
        value = await self._run(context, lambda: self.objects.dicts.pop(request.dict_id, request.key))
        return api_pb2.DictGetResponse(found=value is not None, value=value or b"")

    async def DictContains(self, request: api_pb2.DictGetRequest, context: Context) -> api_pb2.DictGetResponse:
        value = await self._run(context, lambda: self.objects.dicts.get(request.dict_id, request.key))
        return api_pb2.DictGetResponse(found=value is not None)

    async def DictLen(self, request: api_pb2.DictLenRequest, context: Context) -> api_pb2.DictLenResponse:
        return api_pb2.DictLenResponse(len=await self._run(context, lambda: self.objects.dicts.len(request.dict_id)))

    async def DictContents(
        self, request: api_pb2.DictContentsRequest, context: Context
    ) -> api_pb2.DictContentsResponse:
        page, done = await self._run(
            context, lambda: self.objects.dicts.contents(request.dict_id, request.after, request.limit)
        )
        entries = [
            api_pb2.DictEntry(key=key if request.keys else b"", value=value if request.values else b"")
            for _, key, value in page
        ]
        return api_pb2.DictContentsResponse(entries=entries, next=page[-1][0] if page else request.after, done=done)

    async def DictClear(self, request: api_pb2.DictLenRequest, context: Context) -> api_pb2.Empty:
        await self._run(context, lambda: self.objects.dicts.clear(request.dict_id))
        return api_pb2.Empty()

    # ------------------------------------------------------------------ queues

    async def QueuePut(self, request: api_pb2.QueuePutRequest, context: Context) -> api_pb2.QueuePutResponse:
        added = await self._await(
            context,
            self.objects.queues.put(
                request.queue_id, request.partition, list(request.values), request.timeout, request.partition_ttl
            ),
        )
        return api_pb2.QueuePutResponse(full=not added)

    async def QueueGet(self, request: api_pb2.QueueGetRequest, context: Context) -> api_pb2.QueueGetResponse:
        values = await self._await(
            context,
            self.objects.queues.get(request.queue_id, request.partition, request.n_values, request.timeout),
        )
        return api_pb2.QueueGetResponse(values=values)

    async def QueueLen(self, request: api_pb2.QueueLenRequest, context: Context) -> api_pb2.QueueLenResponse:
        n = await self._await(context, self.objects.queues.len(request.queue_id, request.partition, request.total))
        return api_pb2.QueueLenResponse(len=n)

    async def QueueClear(self, request: api_pb2.QueueClearRequest, context: Context) -> api_pb2.Empty:
        await self._await(context, self.objects.queues.clear(request.queue_id, request.partition, request.all))
        return api_pb2.Empty()

    async def QueueNextItems(
        self, request: api_pb2.QueueNextItemsRequest, context: Context
    ) -> api_pb2.QueueNextItemsResponse:
        items = await self._await(
            context,
            self.objects.queues.next_items(
                request.queue_id, request.partition, request.after_item_id, request.max_items, request.timeout
            ),
        )
        return api_pb2.QueueNextItemsResponse(items=[api_pb2.QueueItem(item_id=i, value=v) for i, v in items])

    # ------------------------------------------------------------------ secrets

    async def SecretCreate(
        self, request: api_pb2.SecretCreateRequest, context: Context
    ) -> api_pb2.SecretCreateResponse:
        workspace = self.workspace()
        secret_id = await self._run(
            context,
            lambda: self.objects.secrets.create(
                request.name,
                request.environment_name,
                dict(request.env),
                request.overwrite,
                merge=request.merge,
                workspace=workspace,
            ),
        )
        return api_pb2.SecretCreateResponse(secret_id=secret_id)

    # ------------------------------------------------------------------ volumes

    def _check_writable(self, container: Container | None, volume_id: str) -> None:
        """A container whose function mounts this volume read-only may not change it."""
        if container is None:
            return
        mounts = [m for m in self.control._function(container.function_id).definition.volume_mounts]
        mine = [m for m in mounts if m.volume_id == volume_id]
        if mine and all(m.read_only for m in mine):
            raise Invalid(f"volume {volume_id} is mounted read-only at {mine[0].mount_path} in this container")

    async def VolumeGetManifest(
        self, request: api_pb2.VolumeGetManifestRequest, context: Context
    ) -> api_pb2.VolumeManifest:
        version, files = await self._run(context, lambda: self.objects.volumes.manifest(request.volume_id))
        return api_pb2.VolumeManifest(
            version=version,
            files=[
                api_pb2.VolumeFile(path=f.path, blob_id=f.blob_id, size=f.size, mode=f.mode, mtime=f.mtime)
                for f in files
            ],
        )

    async def VolumeCommit(
        self, request: api_pb2.VolumeCommitRequest, context: Context
    ) -> api_pb2.VolumeCommitResponse:
        container = self.caller()
        puts = [VolumeFileRow(f.path, f.blob_id, f.size, f.mode, f.mtime) for f in request.puts]

        def commit() -> tuple[int, list[str]]:
            self._check_writable(container, request.volume_id)
            return self.objects.volumes.commit(request.volume_id, puts, list(request.deletes), request.overwrite)

        version, missing = await self._run(context, commit)
        return api_pb2.VolumeCommitResponse(version=version, missing_blob_ids=missing)

    async def VolumeListFiles(
        self, request: api_pb2.VolumeListFilesRequest, context: Context
    ) -> api_pb2.VolumeListFilesResponse:
        entries = await self._run(
            context, lambda: self.objects.volumes.list_files(request.volume_id, request.path, request.recursive)
        )
        return api_pb2.VolumeListFilesResponse(entries=entries)

    async def VolumeRemoveFile(
        self, request: api_pb2.VolumeRemoveFileRequest, context: Context
    ) -> api_pb2.VolumeCommitResponse:
        container = self.caller()

        def remove() -> int:
            self._check_writable(container, request.volume_id)
            return self.objects.volumes.remove(request.volume_id, request.path, request.recursive)

        return api_pb2.VolumeCommitResponse(version=await self._run(context, remove))

    async def VolumeCopyFiles(
        self, request: api_pb2.VolumeCopyFilesRequest, context: Context
    ) -> api_pb2.VolumeCommitResponse:
        container = self.caller()

        def copy() -> int:
            self._check_writable(container, request.volume_id)
            return self.objects.volumes.copy(
                request.volume_id, list(request.src_paths), request.dst_path, request.recursive
            )

        return api_pb2.VolumeCommitResponse(version=await self._run(context, copy))

    async def VolumeReadFile(
        self, request: api_pb2.VolumeReadFileRequest, context: Context
    ) -> AsyncIterator[api_pb2.BlobChunk]:
        path = await self._run(context, lambda: self.objects.volumes.open_file(request.volume_id, request.path))
        try:
            f = path.open("rb")  # an open file survives a concurrent delete of its content
        except FileNotFoundError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.path}: content is missing on the server")
            return
        with f:
            data = f.read(config.VOLUME_CHUNK_SIZE)
            yield api_pb2.BlobChunk(blob_id=path.name, data=data)  # at least one chunk, even when empty
            while data:
                data = f.read(config.VOLUME_CHUNK_SIZE)
                if data:
                    yield api_pb2.BlobChunk(data=data)

    async def VolumeBlobHas(self, request: api_pb2.BlobHasRequest, context: Context) -> api_pb2.BlobHasResponse:
        exists = await self._run(context, lambda: self.objects.volumes.blobs.has(request.blob_id))
        return api_pb2.BlobHasResponse(exists=exists)

    async def VolumeBlobPut(
        self, request_iterator: AsyncIterator[api_pb2.BlobChunk], context: Context
    ) -> api_pb2.BlobPutResponse:
        writer = self.objects.volumes.blobs.writer()
        blob_id = ""
        try:
            async for chunk in request_iterator:
                blob_id = blob_id or chunk.blob_id
                writer.write(chunk.data)
        except BaseException:
            writer.abort()
            raise
        await self._run(context, lambda: _finish_upload(writer, blob_id))
        return api_pb2.BlobPutResponse(blob_id=blob_id)

    async def VolumeBlobGet(
        self, request: api_pb2.BlobGetRequest, context: Context
    ) -> AsyncIterator[api_pb2.BlobChunk]:
        path = await self._run(context, lambda: self.objects.volumes.blobs.path(request.blob_id))
        try:
            f = path.open("rb")
        except FileNotFoundError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"volume content {request.blob_id} not found")
            return
        with f:
            data = f.read(config.VOLUME_CHUNK_SIZE)
            yield api_pb2.BlobChunk(blob_id=request.blob_id, data=data)
            while data:
                data = f.read(config.VOLUME_CHUNK_SIZE)
                if data:
                    yield api_pb2.BlobChunk(data=data)


def _finish_upload(writer: BlobWriter, blob_id: str) -> None:
    try:
        writer.finish(blob_id)
    except ValueError as exc:  # content that does not match its id: the caller's mistake
        raise Invalid(f"uploaded content does not match its id {blob_id}") from exc
