"""`ContainerProcess`: a command running in a sandbox (`Sandbox.exec`), as Modal's `modal.container_process`."""

from __future__ import annotations

import asyncio
from typing import Generic

from ._utils.aio import twin
from .client import Client
from .io_streams import POLL, StreamReader, StreamWriter, T, print_stream
from .proto import api_pb2
from .stream_type import StreamType

__all__ = ["ContainerProcess"]


class ContainerProcess(Generic[T]):
    """A command running in a sandbox (from `Sandbox.exec`)."""

    def __init__(
        self,
        exec_id: str,
        text: bool = True,
        stdout: StreamType = StreamType.PIPE,
        stderr: StreamType = StreamType.PIPE,
    ) -> None:
        self.object_id = exec_id
        self.stdout: StreamReader[T] = StreamReader(exec_id, 1, text, stdout)
        self.stderr: StreamReader[T] = StreamReader(exec_id, 2, text, stderr)
        self.stdin = StreamWriter(exec_id)
        self._returncode: int | None = None
        # StreamType.STDOUT: tasks on the SDK's loop (where exec runs) print those streams here.
        self._printing = [
            asyncio.create_task(print_stream(exec_id, fd))
            for fd, kind in ((1, stdout), (2, stderr))
            if kind is StreamType.STDOUT
        ]

    @property
    def returncode(self) -> int | None:
        """The exit code once `wait()` or `poll()` has seen the process end, else None."""
        return self._returncode

    async def _wait(self, timeout: float) -> int | None:
        if self._returncode is None:
            client = await Client.get()
            request = api_pb2.ContainerExecWaitRequest(exec_id=self.object_id, timeout=timeout)
            response = await client.stub.ContainerExecWait(request, timeout=timeout + 10)
            if response.done:
                self._returncode = response.returncode
        return self._returncode

    async def _wait_exit(self) -> int:
        while (code := await self._wait(POLL)) is None:
            pass
        await asyncio.gather(*self._printing)  # what it printed is shown before wait() returns
        return code

    @twin
    async def wait(self) -> int:
        """Block until the process exits; return its exit code (124 when its `timeout` killed it)."""
        return await self._wait_exit()

    @twin
    async def poll(self) -> int | None:
        """The exit code if the process has exited, else None (never blocks)."""
        return await self._wait(0)
