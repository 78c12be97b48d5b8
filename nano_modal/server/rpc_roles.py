"""Who may call each RPC: one table, checked once, before any handler runs (service.py).

Tokens: the server's admin token (CLI, SDK clients, workers; the default workspace's),
workspace tokens (`nano-modal token create --workspace W`: W's admin, or invoke-only) and
one per function container. A sandbox holds none. A function with
`restrict_modal_access=True` gets a token that may only move its own payloads and use the
volumes mounted on it. What a caller may name is narrowed to its workspace by
workspaces.py, for every RPC but the OPERATOR and CONTAINER ones.
"""

from __future__ import annotations

import enum


class Role(enum.Enum):
    OPERATOR = "operator"  # the server's admin token only: workers, every container, workspaces
    ADMIN = "admin"  # a workspace's admin token (the server's admin token is the default workspace's)
    CONTAINER = "container"  # the calling container itself: the request's container_id is the token's
    ANY = "any"  # the admin, or a function container without restrict_modal_access
    PAYLOADS = "payloads"  # the admin, or any function container (restricted ones too): blobs, Hello
    VOLUME = "volume"  # as ANY; a restricted container too, for a volume mounted on it (request.volume_id)


ROLES: dict[str, Role] = {
    # service.py: session, apps, functions and calls, blobs, workers, containers
    "Hello": Role.PAYLOADS,
    "ProxyTokenCreate": Role.ADMIN,  # for the caller's workspace's endpoints only (gateway.py)
    "WorkspaceCreate": Role.OPERATOR,
    "WorkspaceList": Role.OPERATOR,
    "WorkspaceSetLimits": Role.OPERATOR,
    "TokenCreate": Role.ADMIN,  # in its own workspace; the operator's in any
    "AppCreate": Role.ADMIN,
    "AppStop": Role.ADMIN,
    "AppHeartbeat": Role.ADMIN,
    "AppLogs": Role.ADMIN,
    "AppDeploy": Role.ADMIN,
    "AppLookup": Role.ANY,  # read-only from a container (its create_if_missing is the admin's: service.py)
    "AppList": Role.ADMIN,
    "AppHistory": Role.ADMIN,
    "AppRollback": Role.ADMIN,
    "AppSetTags": Role.ADMIN,
    "AppGetTags": Role.ANY,  # read-only, as AppLookup: a container may read its app's tags
    "FunctionBindParams": Role.ANY,
    "FunctionGet": Role.ANY,
    "FunctionUpdateAutoscaler": Role.ANY,  # Modal programs scale their own functions, from containers too
    "FunctionCreate": Role.ADMIN,
    "FunctionMap": Role.ANY,
    "FunctionPutInputs": Role.ANY,
    "FunctionGetOutputs": Role.ANY,
    "FunctionCallCancel": Role.ANY,
    "FunctionCallGet": Role.ANY,
    "FunctionGetTimeRangeStats": Role.ANY,  # read-only, as FunctionGet's stats
    "FunctionGetMetrics": Role.ANY,
    "AppGetTimeRangeStats": Role.ANY,
    "FunctionGetCallGraph": Role.ANY,
    "BlobHas": Role.PAYLOADS,
    "BlobPut": Role.PAYLOADS,
    "BlobGet": Role.PAYLOADS,
    "WorkerRegister": Role.OPERATOR,
    "WorkerPoll": Role.OPERATOR,
    "WorkerLogs": Role.OPERATOR,
    "WorkerContainerExited": Role.OPERATOR,
    "ContainerHello": Role.CONTAINER,
    "TunnelStart": Role.CONTAINER,  # modal.forward works inside a container only, as in Modal
    "TunnelStop": Role.CONTAINER,
    "TunnelNext": Role.CONTAINER,
    "TunnelRespond": Role.CONTAINER,
    "ContainerGetInputs": Role.CONTAINER,
    "ContainerPutOutputs": Role.CONTAINER,
    "ContainerHeartbeat": Role.CONTAINER,
    "ContainerWebReceive": Role.CONTAINER,
    "ContainerInitFailed": Role.CONTAINER,
    # object_service.py: Dict, Queue, Secret, Volume
    "ObjectGetOrCreate": Role.ANY,
    "ObjectList": Role.ANY,
    "ObjectDelete": Role.ANY,
    "ImagePublish": Role.ADMIN,
    "ImageGetByTag": Role.ANY,  # a function may run or build on a published image
    "ObjectRename": Role.ANY,  # as ObjectDelete: a container may manage the workspace's objects
    "ObjectHeartbeat": Role.ANY,
    "DictGet": Role.ANY,
    "DictUpdate": Role.ANY,
    "DictPop": Role.ANY,
    "DictContains": Role.ANY,
    "DictLen": Role.ANY,
    "DictContents": Role.ANY,
    "DictClear": Role.ANY,
    "QueuePut": Role.ANY,
    "QueueGet": Role.ANY,
    "QueueLen": Role.ANY,
    "QueueClear": Role.ANY,
    "QueueNextItems": Role.ANY,
    "SecretCreate": Role.ANY,
    "VolumeGetManifest": Role.VOLUME,
    "VolumeCommit": Role.VOLUME,
    "VolumeListFiles": Role.VOLUME,
    "VolumeRemoveFile": Role.VOLUME,
    "VolumeCopyFiles": Role.VOLUME,
    "VolumeReadFile": Role.VOLUME,
    "VolumeBlobHas": Role.PAYLOADS,
    "VolumeBlobPut": Role.PAYLOADS,
    "VolumeBlobGet": Role.PAYLOADS,
    # sandbox_service.py: sandboxes, exec, the container CLI
    "SandboxCreate": Role.ANY,
    "SandboxGet": Role.ANY,
    "SandboxGetStats": Role.ANY,  # read-only, as SandboxGet (scoped the same way)
    "SandboxList": Role.ANY,
    "SandboxWait": Role.ANY,
    "SandboxTerminate": Role.ANY,
    "SandboxTagsSet": Role.ANY,
    "SandboxCreateConnectToken": Role.ANY,
    "SandboxRelay": Role.OPERATOR,
    "ContainerExec": Role.ANY,
    "ContainerExecGetOutput": Role.ANY,
    "ContainerExecPutInput": Role.ANY,
    "ContainerExecWait": Role.ANY,
    "ContainerList": Role.ADMIN,  # a workspace's own containers; the operator's: all (sandbox_service.py)
    "ContainerStop": Role.ADMIN,  # its container_id is checked against the caller's workspace
}

# What an invoke-only token may call (anything else: PERMISSION_DENIED). The functions and
# calls it names must be of its workspace's deployed apps (workspaces.py).
INVOKE_ONLY: frozenset[str] = frozenset(
    {
        "Hello",
        "AppLookup",
        "FunctionGet",
        "FunctionBindParams",
        "FunctionMap",
        "FunctionPutInputs",
        "FunctionGetOutputs",
        "FunctionCallGet",
        "FunctionCallCancel",
        "BlobHas",
        "BlobPut",
        "BlobGet",
    }
)

# The same for an invoke-only pair of the real modal client (`nano-modal token create --modal
# --invoke-only`), in Modal's method names: what `Function.from_name(...).remote()/.map()/
# .spawn()/.remote_gen()`, `FunctionCall.get()` and `Cls.from_name(...)` call.
MODAL_INVOKE_ONLY: frozenset[str] = frozenset(
    {
        "ClientHello",
        "EnvironmentGetOrCreate",
        "FunctionGet",
        "ClassGet",
        "FunctionBindParams",
        "FunctionMap",
        "FunctionPutInputs",
        "FunctionGetOutputs",
        "FunctionCallGetDataOut",
        "FunctionCallCancel",
        "BlobCreate",
        "BlobGet",
    }
)

# What a container of a function with `restrict_modal_access=True` may call on Modal's
# protocol (modal_compat/handler.py): Modal's container entrypoint serving its own inputs
# (the calls its _container_entrypoint and _runtime make) and moving their payloads, nothing
# that reaches another object: no dicts, queues, secrets, volumes, other functions' calls,
# sandboxes or images (the same narrowing as Role.PAYLOADS on nano-modal's own protocol).
MODAL_RESTRICTED: frozenset[str] = frozenset(
    {
        "ClientHello",
        "ContainerHello",
        "ContainerHeartbeat",
        "ContainerStop",
        "TaskResult",
        "FunctionGetInputs",
        "FunctionPutOutputs",
        "FunctionCallGetDataIn",
        "FunctionCallPutDataOut",
        "BlobCreate",
        "BlobGet",
    }
)
