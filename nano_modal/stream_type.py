"""Where a sandbox command's output goes (`Sandbox.exec(stdout=, stderr=)`), as Modal's `modal.stream_type`."""

from __future__ import annotations

import enum
import subprocess


class StreamType(enum.Enum):
    DEVNULL = subprocess.DEVNULL  # dropped: reading the stream gives nothing
    PIPE = subprocess.PIPE  # kept for the caller to read (the default)
    STDOUT = subprocess.STDOUT  # printed to this process's stdout as it comes

    def __repr__(self) -> str:
        return f"{self.__module__}.{type(self).__name__}.{self.name}"
