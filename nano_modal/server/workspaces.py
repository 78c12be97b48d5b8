"""Workspaces: who a token speaks for, and the one check that keeps workspaces apart.

A workspace owns apps (and through them their functions, calls, containers and sandboxes)
and named objects (dicts, queues, secrets, volumes). Every caller acts in one workspace:
the server's admin token in the default one ("main", where everything made before
workspaces existed is), a workspace token (`nano-modal token create --workspace W`) in W,
a function container in its app's. Two rules keep them apart:

- names are looked up in the caller's workspace only (the handlers pass `workspace`);
- every id anywhere in a request (`check`, run before each handler by service.py) must
  belong to the caller's workspace: another workspace's id answers NotFound, exactly as an
  id that never existed, so ids cannot be probed.

The server's admin token is also the operator's: workers use it (a sandbox's volumes are
synced with it), and whoever holds it holds the state directory and the secrets' key too.
Its ids are not checked; its names are main's. Users of main who are not the operator get
a token of main (`nano-modal token create --workspace main`), confined like any other.

An invoke-only token may look up and call the functions of its workspace's deployed apps,
and read the results of such calls: the RPCs in rpc_roles.INVOKE_ONLY, ids of ephemeral
apps' functions are NotFound for it.

Tokens are kept as sha256 digests, in the store and in memory (loaded at start: this
server is the only one that creates them).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from .. import config
from .._web_host import WORKSPACE_SEPARATOR
from .errors import Invalid, NotFound
from .state import Container
from .store import Store
from .workspace_limits import NO_LIMITS, Limits

# Workspace names appear in web endpoint hosts and paths, before WORKSPACE_SEPARATOR ("--"),
# which they therefore cannot hold (nor end with '-', which would make one with the separator).
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")

# Request fields that name something a workspace owns, anywhere in a request, nested
# messages (a FunctionDefinition's secret_ids and volume mounts) included.
ID_FIELDS: dict[str, str] = {
    "app_id": "app",
    "function_id": "function",
    "parent_function_id": "function",
    "call_id": "call",
    "sandbox_id": "sandbox",
    "container_id": "container",
    "exec_id": "process",
    "object_id": "object",
    "dict_id": "dict",
    "queue_id": "queue",
    "volume_id": "volume",
    "secret_ids": "secret",
}
# The same for Modal's own client protocol (server/modal_compat/), whose ids are ours.
MODAL_ID_FIELDS: dict[str, str] = {
    **ID_FIELDS,
    "function_call_id": "call",
    "existing_function_id": "function",
    "base_function_id": "function",
    "build_function_id": "function",
    "parametrized_function_id": "function",
    "secret_id": "secret",
    "credentials_secret_id": "secret",
    "replace_secret_ids": "secret",
    "task_id": "container",
}


@dataclass(frozen=True)
class Principal:
    """Who makes the current call, as its token says."""

    workspace: str
    container: Container | None = None  # a function container (its app's workspace)
    invoke_only: bool = False
    operator: bool = False  # the server's own admin token: workers, all containers


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_workspace_name(name: str) -> str:
    if not _NAME.match(name) or WORKSPACE_SEPARATOR in name:
        raise Invalid(
            f"invalid workspace name {name!r}: use 1-64 lowercase letters, digits or single '-' inside"
            " ('--' separates a workspace from an app in web endpoint addresses)"
        )
    return name


class Workspaces:
    """The workspaces and their tokens (the server's admin token is not among them)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._tokens: dict[str, tuple[str, bool]] = {h: (ws, inv) for h, ws, inv in store.list_tokens()}
        self._limits: dict[str, Limits] = store.workspace_limits()  # read on every placement: kept here

    def limits_of(self, name: str) -> Limits:
        return self._limits.get(name, NO_LIMITS)

    def set_limits(self, name: str, limits: Limits) -> None:
        if not self.exists(name):
            raise NotFound(f"workspace {name!r} not found (create it with `nano-modal workspace create`)")
        if min(limits.max_containers, limits.max_cpu, limits.max_memory_mb) < 0:
            raise Invalid("limits cannot be negative (0: no limit)")
        self.store.set_workspace_limits(name, limits)
        self._limits[name] = limits

    def names(self) -> list[tuple[str, float]]:
        created = dict(self.store.list_workspaces())
        return sorted({config.DEFAULT_WORKSPACE: created.get(config.DEFAULT_WORKSPACE, 0.0), **created}.items())

    def exists(self, name: str) -> bool:
        return name == config.DEFAULT_WORKSPACE or name in dict(self.store.list_workspaces())

    def create(self, name: str) -> bool:
        """False when it exists already."""
        check_workspace_name(name)
        return name != config.DEFAULT_WORKSPACE and self.store.create_workspace(name)

    def new_token(self, workspace: str, invoke_only: bool) -> str:
        """A new token of `workspace`; only its digest is kept, so it can be shown once only."""
        if not self.exists(workspace):
            raise NotFound(f"workspace {workspace!r} not found (create it with `nano-modal workspace create`)")
        token = f"{'ik' if invoke_only else 'wt'}-{secrets.token_urlsafe(32)}"
        digest = hash_token(token)
        self.store.add_token(digest, workspace, invoke_only)
        self._tokens[digest] = (workspace, invoke_only)
        return token

    def find(self, token: str) -> Principal | None:
        if not token:
            return None
        found = self._tokens.get(hash_token(token))
        if found is None:
            return None
        return Principal(found[0], invoke_only=found[1])


class WorkspaceScope:
    """Which workspace owns an id: answered by the parts that own each kind of thing."""

    def __init__(self, owners: dict[str, Callable[[str], str | None]], invocable: Callable[[str, str], bool]) -> None:
        # kind ("app", "function", ...) -> the workspace owning an id of it (None: no such id)
        self.owners = owners
        # (kind, id) -> whether an invoke-only token may name it: a deployed app's function or call
        self.invocable = invocable

    def check(self, request: object, principal: Principal, fields: dict[str, str] = ID_FIELDS) -> None:
        """NotFound for the first id in `request` that another workspace owns. Unknown ids
        pass: the handler says they do not exist, in its own words. `fields`: which request
        fields hold ids of what (ID_FIELDS, or MODAL_ID_FIELDS for Modal's protocol)."""
        if not isinstance(request, Message):
            return  # a request stream (uploads): it carries content, not ids
        for kind, value in _ids(request, fields):
            owner = self.owners[kind](value)
            if owner is None:
                continue
            if owner != principal.workspace or (principal.invoke_only and not self.invocable(kind, value)):
                raise NotFound(f"{kind} {value} not found")


def _ids(message: Message, fields: dict[str, str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for field, value in message.ListFields():
        kind = fields.get(field.name)
        if kind is not None and field.type == FieldDescriptor.TYPE_STRING:
            found.extend((kind, v) for v in (value if field.is_repeated else [value]) if v)
        elif field.message_type is not None and _may_hold_ids(field.message_type, fields is MODAL_ID_FIELDS):
            for item in value if field.is_repeated else [value]:
                found.extend(_ids(item, fields))
    return found


@cache
def _may_hold_ids(descriptor: Descriptor, modal: bool) -> bool:
    """Whether a message type has an id field, itself or in a nested message: a request's
    payloads (inputs, chunks) and maps are never walked."""
    return _holds(descriptor, MODAL_ID_FIELDS if modal else ID_FIELDS, set())


def _holds(descriptor: Descriptor, fields: dict[str, str], seen: set[str]) -> bool:
    if descriptor.full_name in seen or descriptor.GetOptions().map_entry:
        return False
    seen.add(descriptor.full_name)
    for field in descriptor.fields:
        if field.name in fields:
            return True
        if field.message_type is not None and _holds(field.message_type, fields, seen):
            return True
    return False
