"""modal.Dict: nano-modal's dicts (server/kv.py), the same objects the nano_modal SDK sees.

Keys and values are stored as the client serialized them (pickles, as the nano_modal SDK's)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...proto import api_pb2 as npb
from ..object_service import ObjectPlane
from .base import Call, ServiceBase

CONTENTS_PAGE = 500  # entries read from the store per step of a DictContents stream


class DictRpcs(ServiceBase):
    objects: ObjectPlane

    async def DictGetOrCreate(self, request: Any, call: Call) -> Any:
        row = self.named_object(npb.OBJECT_KIND_DICT, request, call.workspace)
        if request.data:
            self.objects.dicts.update(row.object_id, [(e.key, e.value) for e in request.data], False)
        return self.pb.DictGetOrCreateResponse(
            dict_id=row.object_id, metadata=self.pb.DictMetadata(name=row.name or "")
        )

    async def DictHeartbeat(self, request: Any, call: Call) -> Any:
        self.objects.registry.heartbeat(request.dict_id)
        return self.proto.empty()

    async def DictGet(self, request: Any, call: Call) -> Any:
        value = self.objects.dicts.get(request.dict_id, request.key)
        return self.pb.DictGetResponse(found=value is not None, value=value or b"")

    async def DictContains(self, request: Any, call: Call) -> Any:
        return self.pb.DictContainsResponse(found=self.objects.dicts.get(request.dict_id, request.key) is not None)

    async def DictUpdate(self, request: Any, call: Call) -> Any:
        entries = [(e.key, e.value) for e in request.updates]
        created = self.objects.dicts.update(request.dict_id, entries, request.if_not_exists)
        return self.pb.DictUpdateResponse(created=created)

    async def DictPop(self, request: Any, call: Call) -> Any:
        value = self.objects.dicts.pop(request.dict_id, request.key)
        return self.pb.DictPopResponse(found=value is not None, value=value or b"")

    async def DictLen(self, request: Any, call: Call) -> Any:
        return self.pb.DictLenResponse(len=self.objects.dicts.len(request.dict_id))

    async def DictClear(self, request: Any, call: Call) -> Any:
        self.objects.dicts.clear(request.dict_id)
        return self.proto.empty()

    async def DictContents(self, request: Any, call: Call) -> AsyncIterator[Any]:
        after = 0
        while True:
            page, done = self.objects.dicts.contents(request.dict_id, after, CONTENTS_PAGE)
            for _, key, value in page:
                yield self.pb.DictEntry(key=key if request.keys else b"", value=value if request.values else b"")
            if done or not page:
                return
            after = page[-1][0]
