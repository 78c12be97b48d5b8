"""Start a worker: `nano-modal worker --server HOST:PORT` or `python -m nano_modal.worker`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal

from .. import config
from ..client import Client
from .agent import Agent
from .runtime import RUNTIMES, make_runtime


async def run_worker(server_url: str, token: str, runtime: str) -> None:
    client = Client(server_url, token)
    await client.hello()
    agent = Agent(client, make_runtime(runtime))
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nano-modal worker", description="Run containers for a nano-modal server.")
    parser.add_argument("--server", default=os.environ.get(config.ENV_SERVER_URL), help="host:port of the server")
    parser.add_argument("--token", default=None, help=f"admin token (default: ${config.ENV_TOKEN} or the config file)")
    parser.add_argument("--runtime", default="process", choices=sorted(RUNTIMES))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    cfg = config.client_config()
    server_url = args.server or cfg.server_url
    token = args.token or cfg.token
    if not server_url or not token:
        raise SystemExit(
            f"a worker needs --server and a token (--token, ${config.ENV_TOKEN} or `nano-modal token set`)"
        )
    asyncio.run(run_worker(server_url, token, args.runtime))
