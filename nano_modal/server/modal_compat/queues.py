"""modal.Queue: nano-modal's queues (server/kv.py), the same objects the nano_modal SDK sees."""

from __future__ import annotations

from typing import Any

import grpc

from ...proto import api_pb2 as npb
from ..object_service import ObjectPlane
from .auth import Refused
from .base import Call, ServiceBase

NEXT_ITEMS_PAGE = 100  # items one QueueNextItems answer carries at most (the client asks again)


def _partition(key: bytes) -> str:
    return key.decode("utf-8")  # Modal sends the partition's name encoded; nano-modal keys by the name


def _entry(last_entry_id: str) -> int:
    try:
        return int(last_entry_id)
    except ValueError:
        return 0  # "" or Modal's own "0-0": from the start


class QueueRpcs(ServiceBase):
    objects: ObjectPlane

    async def QueueGetOrCreate(self, request: Any, call: Call) -> Any:
        row = self.named_object(npb.OBJECT_KIND_QUEUE, request, call.workspace)
        return self.pb.QueueGetOrCreateResponse(queue_id=row.object_id)

    async def QueueHeartbeat(self, request: Any, call: Call) -> Any:
        self.objects.registry.heartbeat(request.queue_id)
        return self.proto.empty()

    async def QueuePut(self, request: Any, call: Call) -> Any:
        partition = _partition(request.partition_key)
        values = list(request.values)
        added = await self.objects.queues.put(
            request.queue_id, partition, values, 0.0, float(request.partition_ttl_seconds)
        )
        if not added:  # the client retries RESOURCE_EXHAUSTED until its timeout, then raises queue.Full
            raise Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, "nano-modal: the queue partition is full")
        return self.proto.empty()

    async def QueueGet(self, request: Any, call: Call) -> Any:
        values = await self.objects.queues.get(
            request.queue_id, _partition(request.partition_key), request.n_values or 1, request.timeout
        )
        return self.pb.QueueGetResponse(values=values)

    async def QueueLen(self, request: Any, call: Call) -> Any:
        n = await self.objects.queues.len(request.queue_id, _partition(request.partition_key), request.total)
        return self.pb.QueueLenResponse(len=n)

    async def QueueClear(self, request: Any, call: Call) -> Any:
        await self.objects.queues.clear(request.queue_id, _partition(request.partition_key), request.all_partitions)
        return self.proto.empty()

    async def QueueNextItems(self, request: Any, call: Call) -> Any:
        items = await self.objects.queues.next_items(
            request.queue_id,
            _partition(request.partition_key),
            _entry(request.last_entry_id),
            NEXT_ITEMS_PAGE,
            request.item_poll_timeout,
        )
        return self.pb.QueueNextItemsResponse(items=[self.pb.QueueItem(value=v, entry_id=str(i)) for i, v in items])
