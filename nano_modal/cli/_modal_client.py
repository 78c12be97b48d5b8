"""The CLI's one call to the server's Modal client protocol: that a new token pair is let in."""

from __future__ import annotations

import grpc

CHECK_TIMEOUT = 30.0  # seconds


def check_pair(server_url: str, token_id: str, secret: str) -> str:
    """Why the server would refuse this pair ("" if it lets it in): a pair made from a token that
    is not the server's admin token, or a server that does not serve Modal's protocol."""
    with grpc.insecure_channel(server_url) as channel:
        # Modal's messages are not needed: an empty request is its Empty, the answer stays bytes.
        hello = channel.unary_unary(
            "/modal.client.ModalClient/ClientHello", request_serializer=_raw, response_deserializer=_raw
        )
        metadata = (("x-modal-token-id", token_id), ("x-modal-token-secret", secret))
        try:
            hello(b"", metadata=metadata, timeout=CHECK_TIMEOUT)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return (
                    "the server refuses pairs made from this machine's token: it is not the server's admin token"
                    " (a workspace's admin: add --workspace W)"
                )
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return f"the server does not serve the modal client's protocol ({details})"
            return f"could not check the pair with the server at {server_url}: {code.name}: {details}"
    return ""


def _raw(data: bytes) -> bytes:
    return data
