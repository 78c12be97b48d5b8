"""The server's gRPC services over TLS (`--tls-cert`, `--tls-key`, `--grpc-tls-port`).

TLS is ended here and the bytes are relayed to the plain gRPC port on this machine, rather
than served by grpc's own `add_secure_port`: grpc's TLS server drops a client that offers no
ALPN protocol, and Modal's client reaches the task command router with exactly such a
connection (`ssl.create_default_context()`). Clients that do offer h2 (grpclib, grpc) get it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from .banner import ANY_ADDRESS

RELAY_CHUNK = 64 * 1024  # bytes read per relay step: gRPC frames are at most 16 KiB by default


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])  # HTTP/2 is all the plain port speaks
    return context


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(RELAY_CHUNK):
            writer.write(data)
            await writer.drain()
    except OSError:  # the peer went away (ssl.SSLError is one too)
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


async def start(host: str, port: int, plain_port: int, context: ssl.SSLContext) -> tuple[asyncio.Server, int]:
    """Serve TLS on host:port (0: any free port), each connection relayed to the plain gRPC port.
    Returns the server and its port."""
    plain_host = ("::1" if host == "::" else "127.0.0.1") if host in ANY_ADDRESS else host

    async def serve_one(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            reader, writer = await asyncio.open_connection(plain_host, plain_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_relay(client_reader, writer), _relay(reader, client_writer))

    server = await asyncio.start_server(serve_one, host or None, port, ssl=context)
    return server, server.sockets[0].getsockname()[1]
