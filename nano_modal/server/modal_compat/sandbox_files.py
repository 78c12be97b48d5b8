"""Modal's sandbox filesystem API (`sb.filesystem.read_text`, `write_bytes`, ...) on nano-modal's agent.

Modal 1.6's client runs each file operation as an exec of a tool Modal puts in its containers,
`/__modal/.bin/modal-sandbox-fs-tools '<JSON command>'`. nano-modal's containers have no such
tool; its sandbox agent does the same operations itself (`builtin` execs, which nano-modal's own
`sb.open`/`ls`/`mkdir`/`rm` use): the router turns the tool's commands into those.
"""

from __future__ import annotations

import json

from ..control import Invalid

FS_TOOLS = "/__modal/.bin/modal-sandbox-fs-tools"
SERVED = "ReadFile, WriteFile, MakeDirectory and Remove"
UNSERVED_EXIT_CODE = 1  # what the tool's failed operations exit with


class Unserved(Exception):
    """An operation of the tool nano-modal does not do yet."""

    def stderr(self) -> bytes:
        """What the tool writes on stderr when it fails: Modal's client raises its message (the
        client hides errors of the exec itself behind "An unexpected error occurred")."""
        return json.dumps({"error_kind": "Unsupported", "message": str(self)}).encode()


def fs_builtin(argv: list[str]) -> tuple[str, list[str]] | None:
    """The agent's builtin and its arguments for a call of Modal's tool, or None for any other command."""
    if len(argv) != 2 or argv[0] != FS_TOOLS:
        return None
    try:
        command = json.loads(argv[1])
        (operation, params), *_ = command.items()
        path = str(params["path"])
    except (ValueError, AttributeError, KeyError, TypeError):
        raise Invalid(f"not a command of Modal's sandbox filesystem tool: {argv[1][:200]!r}") from None
    if operation == "ReadFile":
        return "read", [path]
    if operation == "WriteFile":
        return "write", [path, "wb"]
    if operation == "MakeDirectory":
        return "mkdir", [path, "1" if params.get("parents") else "0"]
    if operation == "Remove":
        return "rm", [path, "1" if params.get("recursive") else "0"]
    raise Unserved(f"nano-modal does not serve the sandbox filesystem's {operation} yet (it serves {SERVED})")
