"""What an app does while it runs: keep-alive heartbeats, and containers' output shown locally."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from . import _log_sync, config
from .client import Client
from .proto import api_pb2


async def heartbeat(client: Client, app_id: str) -> None:
    while True:
        await asyncio.sleep(config.APP_HEARTBEAT_INTERVAL)
        with contextlib.suppress(Exception):
            await client.stub.AppHeartbeat(api_pb2.AppHeartbeatRequest(app_id=app_id), timeout=5)


async def print_logs(client: Client, app_id: str) -> None:
    """Show what containers print, as it happens, marked with where it came from."""
    with contextlib.suppress(Exception):
        async with _log_sync.printing():
            await _print_log_batches(client, app_id)


async def _print_log_batches(client: Client, app_id: str) -> None:
    async for batch in client.stub.stream("AppLogs", api_pb2.AppLogsRequest(app_id=app_id)):
        for line in batch.lines:
            if line.fd == config.LOG_SYNC_FD:  # an input's prints are all above: its caller may go on
                sys.stdout.flush()
                sys.stderr.flush()
                await _log_sync.shown(line.data)
                continue
            out = sys.stdout if line.fd == 1 else sys.stderr
            tag = f"[{line.function_name} {line.container_id[-6:]}]"
            if line.fd == config.IMAGE_BUILD_LOG_FD:
                from ._image_log import show_build_line  # rich: only loaded when images are built

                show_build_line(tag, line.data)
                continue
            text = line.data if line.data.endswith("\n") else line.data + "\n"
            out.write(f"{tag} {text}")
        sys.stdout.flush()
        sys.stderr.flush()
        if batch.app_done:
            return
