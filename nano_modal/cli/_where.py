"""The line `nano-modal run`, `serve` and `deploy` print once: where the app runs (the embedded
server or which one) and how its containers are isolated (the runtime its workers reported)."""

from __future__ import annotations

import asyncio
import sys

from .. import config, embedded
from .._utils.aio import run_blocking
from ..client import Client
from ..exception import ConnectionError
from ..proto import api_pb2
from ..version import __version__

# A worker registers after its runtime's start-up probe (bwrap ~0.2 s, gVisor ~1 s on the machine
# measured): the embedded one is waited for that long, loaded machines included. A remote server
# with no worker yet is not waited for: its calls queue until one comes.
EMBEDDED_WORKER_WAIT = 60.0
REMOTE_WORKER_WAIT = 2.0
POLL_SECONDS = 0.1

RUNTIME_WORDS = {
    "bwrap": "bwrap (Linux namespaces)",
    "gvisor": "gVisor (runsc)",
    "process": "process (NO ISOLATION: containers are plain processes of this machine)",
}


async def _runtimes(client: Client, is_embedded: bool) -> list[str]:
    """The workers' runtimes, once one has registered (or the wait is over)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + (EMBEDDED_WORKER_WAIT if is_embedded else REMOTE_WORKER_WAIT)
    while True:
        # First: a worker that refused to start takes the local server down with it.
        problem = embedded.worker_failure() if is_embedded else None
        if problem is not None:
            raise ConnectionError(f"the local worker stopped: {problem}")
        # The RPC, not client.hello(): that also sets up the connection again.
        response = await client.stub.Hello(api_pb2.HelloRequest(client_version=__version__))
        if response.worker_runtimes or loop.time() >= give_up:
            return list(response.worker_runtimes)
        await asyncio.sleep(POLL_SECONDS)


def where_line(client: Client) -> str:
    is_embedded = config.client_config().server_url is None
    runtimes = run_blocking(_runtimes(client, is_embedded))
    if is_embedded:
        place = f"the local server ({client.server_url}, state in {embedded.local_dir()})"
    else:
        place = f"the server at {client.server_url}"
    if not runtimes:
        return f"runs on {place}; no worker is connected yet: calls wait for one"
    return f"runs on {place}, runtime {', '.join(RUNTIME_WORDS.get(r, r) for r in runtimes)}"


def say_where(client: Client) -> None:
    """Print the line, once, on stderr (stdout is the app's)."""
    print(where_line(client), file=sys.stderr, flush=True)
