"""The client's display of an image build, from the worker's build log lines (LogLine.fd ==
config.IMAGE_BUILD_LOG_FD): step headers stand out, command output is dimmed, the result is
green or red. Plain text when stderr is not a terminal."""

from __future__ import annotations

from functools import cache

from rich.console import Console
from rich.text import Text


@cache
def _console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def show_build_line(tag: str, data: str) -> None:
    text = data.rstrip("\n")
    if text.startswith("  | "):
        style = "dim"
    elif text.startswith(("Step ", "Base ")):
        style = "green" if text.endswith("(cached)") else "bold cyan"
    elif text.startswith("Image ") and "ready" in text:
        style = "bold green"
    elif text.startswith("  done"):
        style = "cyan"
    else:
        style = "yellow"
    _console().print(Text(f"{tag} ", style="dim") + Text(text, style=style))
