"""What an app's functions and classes become for the server: the FunctionOptions of their
decorators' options, their FunctionDefinition, and the ids the server gives them back."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from . import _gpu as gpu_spec
from ._definition import FunctionOptions, build_definition
from ._porting_options import CLOUD_ONLY, env_secrets, note_ignored, refuse_network_file_systems
from .client import Client
from .cls import Cls
from .exception import InvalidError
from .functions import Function
from .proto import api_pb2
from .retries import Retries

if TYPE_CHECKING:
    from .app import App

# Options Modal renamed, by their old name: still accepted, with a DeprecationWarning.
RENAMED_OPTIONS = {
    "concurrency_limit": "max_containers",
    "keep_warm": "min_containers",
    "container_idle_timeout": "scaledown_window",
}


def function_options(
    app: App,
    where: str,
    image: Any,
    timeout: float,
    retries: int | Retries | None,
    max_containers: int | None,
    min_containers: int,
    scaledown_window: float | None,
    max_inputs: int | None,
    cpu: float | None,
    memory: int | None,
    serialized: bool,
    secrets: list[Any] | None,
    volumes: dict[str, Any] | None,
    block_network: bool,
    *,
    gpu: str | list[str] | None,
    restrict_modal_access: bool,
    renamed: dict[str, Any],
    ported: dict[str, Any],
) -> FunctionOptions:
    """The FunctionOptions of `@app.function(...)` / `@app.cls(...)`: the app's defaults, Modal's
    renamed and cloud-only options resolved."""
    note_ignored(where, {k: v for k, v in ported.items() if k in CLOUD_ONLY})
    refuse_network_file_systems(ported["network_file_systems"], where)
    secrets = [*(secrets or []), *env_secrets(ported["env"])]
    if ported["single_use_containers"]:
        max_inputs = 1  # Modal's name for a container that serves one input, then exits
    for old, value in renamed.items():
        if value is None:
            continue
        new = RENAMED_OPTIONS[old]
        warnings.warn(f"{old}= is called {new}= now; {old}= will go away", DeprecationWarning, stacklevel=3)
        if new == "max_containers" and max_containers is None:
            max_containers = value
        elif new == "min_containers" and not min_containers:
            min_containers = value
        elif new == "scaledown_window" and scaledown_window is None:
            scaledown_window = value
        else:
            raise InvalidError(f"pass {new}= only: {old}= is its old name")
    return FunctionOptions(
        timeout=timeout,
        retries=Retries.coerce(retries),
        max_containers=max_containers,
        min_containers=min_containers,
        scaledown_window=scaledown_window,
        max_inputs=max_inputs,
        cpu=cpu,
        memory=memory,
        serialized=serialized,
        image=image or app.image,
        secrets=tuple(app.secrets + list(secrets or [])),
        volumes={**app.volumes, **(volumes or {})},
        block_network=block_network,
        gpu=gpu_spec.normalize(gpu),
        restrict_modal_access=restrict_modal_access,
        ephemeral_disk=ported.get("ephemeral_disk"),
    )


def hydrate_target(
    target: Function | Cls, object_id: str | None, definition: api_pb2.FunctionDefinition | None, app_ref: str
) -> None:
    target.object_id = object_id
    target._web_app_ref = app_ref
    if isinstance(target, Cls):
        target.definition = definition


async def target_definition(client: Client, target: Function | Cls) -> api_pb2.FunctionDefinition:
    if isinstance(target, Cls):
        assert target.raw_f is not None
        definition = await build_definition(client, target.name, target.raw_f, target.options, methods=target.methods())
        definition.class_parameters.extend(target.parameter_specs())
        return definition
    return await build_definition(
        client, target.name, target.raw_f, target.options, is_generator=target.is_generator, is_async=target.is_async
    )
