"""`Image`: the container image a function runs in, defined in code.

Images are recorded step by step, as in Modal. Building them into root filesystems is
the images issue's work; until a worker has an image builder, functions run on the
worker's own Python and the recorded steps are not applied (the worker says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Image:
    base: str
    python_version: str | None = None
    steps: tuple[tuple[str, tuple[Any, ...]], ...] = field(default_factory=tuple)

    @staticmethod
    def debian_slim(python_version: str | None = None) -> Image:
        return Image("debian_slim", python_version)

    @staticmethod
    def python(version: str) -> Image:
        return Image("python", version)

    def _with(self, step: str, *args: Any) -> Image:
        return Image(self.base, self.python_version, (*self.steps, (step, args)))

    def pip_install(self, *packages: str) -> Image:
        return self._with("pip_install", *packages)

    def apt_install(self, *packages: str) -> Image:
        return self._with("apt_install", *packages)

    def run_commands(self, *commands: str) -> Image:
        return self._with("run_commands", *commands)

    def env(self, variables: dict[str, str]) -> Image:
        return self._with("env", tuple(sorted(variables.items())))
