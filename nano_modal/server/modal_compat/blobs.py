"""Payloads over 2 MiB: Modal's client uploads them with an HTTP PUT to a URL BlobCreate
gives it, and downloads them from the URL BlobGet gives it (S3's protocol, in Modal's cloud).

Here the URLs are routes of the server's HTTP gateway, into nano-modal's content-addressed
blob store: a Modal blob id is "bl-" + the sha256 of its content (the client sends that hash
with BlobCreate, and the store checks it on upload). Each URL carries a signature made with
the admin token, so only a caller the gRPC service let in can read or write through it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from ..blobs import BlobStore
from .auth import Refused
from .base import Call, ServiceBase

ROUTE = "/_/modal-blobs/{digest}"  # under /_/, the gateway's own pages, never an app's


def _signature(admin_token: str, verb: str, digest: str) -> str:
    return hmac.new(admin_token.encode(), f"{verb}:{digest}".encode(), hashlib.sha256).hexdigest()


def blob_url(web_base_url: str, admin_token: str, verb: str, digest: str) -> str:
    return f"{web_base_url}/_/modal-blobs/{digest}?sig={_signature(admin_token, verb, digest)}"


def blob_routes(blobs: BlobStore, admin_token: str) -> list[BaseRoute]:
    """The gateway's routes for Modal's blob uploads (PUT) and downloads (GET)."""

    async def handle(request: Request) -> Response:
        digest = request.path_params["digest"]
        verb = request.method
        if not hmac.compare_digest(request.query_params.get("sig", ""), _signature(admin_token, verb, digest)):
            return PlainTextResponse("nano-modal: this blob URL's signature is not valid\n", status_code=403)
        try:
            if verb == "PUT":
                body = await request.body()
                blobs.put(digest, [body])
                # S3's ETag of a single-part upload is the content's md5: the client checks it.
                return Response(status_code=200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
            return Response(blobs.read(digest), media_type="application/octet-stream")
        except FileNotFoundError:
            return PlainTextResponse(f"nano-modal: no blob {digest}\n", status_code=404)
        except ValueError as exc:
            return PlainTextResponse(f"nano-modal: {exc}\n", status_code=400)

    return [Route(ROUTE, handle, methods=["GET", "PUT"])]


def blob_digest(blob_id: str) -> str:
    return blob_id.removeprefix("bl-")


class BlobRpcs(ServiceBase):
    web_base_url: str  # the server's HTTP gateway, where the blob routes are

    async def BlobCreate(self, request: Any, call: Call) -> Any:
        try:
            digest = base64.b64decode(request.content_sha256_base64, validate=True).hex()
        except binascii.Error as exc:
            raise Refused(
                grpc.StatusCode.INVALID_ARGUMENT, "nano-modal: BlobCreate needs the content's sha256"
            ) from exc
        if len(digest) != 64:
            raise Refused(grpc.StatusCode.INVALID_ARGUMENT, "nano-modal: BlobCreate needs the content's sha256")
        url = blob_url(self.web_base_url, self.admin_token, "PUT", digest)
        return self.pb.BlobCreateResponse(blob_ids=[f"bl-{digest}"], upload_urls=self.pb.UploadUrlList(items=[url]))

    async def BlobGet(self, request: Any, call: Call) -> Any:
        digest = blob_digest(request.blob_id)
        if not self.blobs.has(digest):
            raise Refused(grpc.StatusCode.NOT_FOUND, f"nano-modal: no blob {request.blob_id}")
        return self.pb.BlobGetResponse(download_url=blob_url(self.web_base_url, self.admin_token, "GET", digest))
