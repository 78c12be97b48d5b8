"""A container of a function defined with the real `modal` client: run Modal's own entrypoint.

The server starts such a container like any other, with the id of the function's *bundle*
(Modal's `Function` message and the files of its mounts, server/modal_compat/functions.py)
in its environment. This module lays the files out under the container's directory (a
mount's `/root/...` becomes `$HOME/root/...`, the working directory Modal's images have),
writes the `ContainerArguments` Modal's entrypoint reads, and replaces itself with
`python -m modal._container_entrypoint` (by way of modal_main.py: a stop runs its exit hooks,
SIGUSR2 starts the exec agent),
which talks to the server's ModalClient service with this container's token (sent as
nano-modal's own token header).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from .. import config

ENV_BUNDLE = config.ENV_MODAL_BUNDLE  # blob id of the function's bundle: run Modal's entrypoint on it
ENV_FUNCTION_ID = "NANO_MODAL_MODAL_FUNCTION_ID"
ENV_APP_ID = "NANO_MODAL_MODAL_APP_ID"
ENV_PARAMS = "NANO_MODAL_MODAL_PARAMS"  # base64 of a class instance's serialized parameters
ENV_LAYOUT = "NANO_MODAL_MODAL_LAYOUT"  # JSON {tag: [function id, bundle blob id]} of the app's functions
ENVIRONMENT = "main"  # Modal's default environment; nano-modal has one
ARGUMENTS_FILE = "modal-container-arguments.bin"
VOLUMES_MODULE = "nano_modal.container.modal_volumes"  # run first when the function mounts volumes
MODAL_MAIN = "nano_modal.container.modal_main"  # Modal's entrypoint, with `container exec` wired in
MISSING_MODAL = (
    "nano-modal: this function was defined with the modal client, and the worker's Python has no"
    " `modal` package to run it: pip install 'nano-modal[modal-compat]' where the worker runs"
)


def in_image() -> bool:
    """Whether this container runs in a built image (its root is the image's, writable; the
    runtime packages were put on sys.path by the bootstrap: worker/images/rootfs.py)."""
    return config.IMAGE_DEPS_DIR in sys.path


def module_argv(module: str, *args: str) -> list[str]:
    """`python -m module args...` in this container. In an image the runtime packages (Modal's
    client among them) are not on the image's own path: the bootstrap puts them on sys.path again."""
    if not in_image():
        return [sys.executable, "-m", module, *args]
    boot = (
        f"import runpy, sys; from nano_modal.container._image_deps import place; place({config.IMAGE_DEPS_DIR!r}); "
        "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-c", boot, module, *args]


def local_path(home: Path, remote: str) -> Path:
    """Where a mount's file goes: Modal's /root is the container's own directory (in an image,
    every file goes where Modal puts it)."""
    if in_image():
        return Path(remote)
    parts = PurePosixPath(remote).parts[1:]  # without the leading "/"
    if parts[:1] == ("root",):
        return home.joinpath("root", *parts[1:])
    return home.joinpath("fs", *parts)


def image_path(path: str) -> str:
    """PATH with this Python's own directory first. The worker's Python stands in for the
    image's (see docs/MODAL_CLIENT.md), and an image's Python is the `python` on its PATH: code
    that runs `python -m ...` or a console script (`airflow`, `pip`) in a subprocess must get this
    environment's, not the host's first Python (modalflow runs `python -m airflow...`)."""
    own = os.path.dirname(sys.executable)
    return os.pathsep.join([own, *(p for p in path.split(os.pathsep) if p and p != own)])


def modal_server_url(url: str) -> str:
    """The container's way to the server as Modal's client dials it: `host:port`, or (a
    sandboxed container, worker/sandbox.py) the relay's `unix:/path`, which its grpclib dials too."""
    return url if url.startswith("unix:") else "http://" + url


def handle_metadata(pb: Any, function: Any, app_id: str) -> Any:
    """What a Modal client knows of a function it holds a handle to (FunctionHandleMetadata);
    a class's service function also describes each method (called with its name)."""
    metadata = pb.FunctionHandleMetadata(
        function_name=function.function_name,
        function_type=function.function_type,
        is_method=function.is_method,
        supported_input_formats=function.supported_input_formats,
        supported_output_formats=function.supported_output_formats,
        app_id=app_id,
        # A class's parameters: the client serializes an instance's (Cls(...)(x=...)) in the
        # format and schema order this says, as the gateway does from a web request's query
        # (server/modal_compat/class_params.py); without it, it pickled them.
        class_parameter_info=function.class_parameter_info,
    )
    class_name = function.function_name.removesuffix(".*")
    for name, method in function.method_definitions.items():
        metadata.method_handle_metadata[name].CopyFrom(
            pb.FunctionHandleMetadata(
                function_name=method.function_name or f"{class_name}.{name}",
                function_type=method.function_type,
                is_method=True,
                use_method_name=name,
                supported_input_formats=method.supported_input_formats,
                supported_output_formats=method.supported_output_formats,
                app_id=app_id,
            )
        )
    return metadata


def app_layout(
    pb: Any, io_: Any, app_id: str, functions: dict[str, list[str]], needed: list[str], volume_ids: set[str]
) -> Any:
    """The app's objects as Modal's entrypoint hydrates them: its functions with their
    metadata (read from their bundles), and every other object the function depends on."""
    layout = pb.AppLayout(function_ids={tag: ids[0] for tag, ids in functions.items()})
    known = set()
    for function_id, bundle_id in functions.values():
        if not bundle_id:
            continue
        bundle = json.loads(io_.read_blob(bundle_id))
        function = pb.Function.FromString(base64.b64decode(bundle["function"]))
        metadata = handle_metadata(pb, function, app_id)
        layout.objects.append(pb.Object(object_id=function_id, function_handle_metadata=metadata))
        known.add(function_id)
        if function.is_class:  # its class object: Modal's entrypoint looks it up by the class's name
            class_id = f"cs-{function_id}"
            layout.class_ids[function.function_name.removesuffix(".*")] = class_id
            layout.objects.append(pb.Object(object_id=class_id, class_handle_metadata=pb.ClassHandleMetadata()))
            known.add(class_id)
    volumes = pb.VolumeMetadata(version=pb.VOLUME_FS_VERSION_V1)  # as VolumeGetOrCreate says (modal_compat)
    for object_id in needed:
        if object_id in volume_ids and object_id not in known:
            layout.objects.append(pb.Object(object_id=object_id, volume_metadata=volumes))
            known.add(object_id)
        if object_id not in known:
            layout.objects.append(pb.Object(object_id=object_id))
            known.add(object_id)
    return layout


def run() -> None:
    from .io import ContainerIO

    try:
        from modal_proto import api_pb2  # type: ignore[import-not-found,unused-ignore]  # optional: modal
    except ImportError:
        print(MISSING_MODAL, file=sys.stderr, flush=True)
        sys.exit(1)
    io_ = ContainerIO()
    home = Path(os.environ.get("HOME") or os.getcwd())
    bundle = json.loads(io_.read_blob(os.environ[ENV_BUNDLE]))
    for remote, (sha256, mode) in bundle["files"].items():
        target = local_path(home, remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(io_.read_blob(sha256))
        if mode:
            target.chmod(mode & 0o777)
    function = api_pb2.Function.FromString(base64.b64decode(bundle["function"]))
    app_id = os.environ[ENV_APP_ID]
    volume_ids = {m.volume_id for m in function.volume_mounts}
    needed = [d.object_id for d in function.object_dependencies] + list(function.mount_ids) + sorted(volume_ids)
    arguments = api_pb2.ContainerArguments(
        task_id=io_.container_id,
        function_id=os.environ[ENV_FUNCTION_ID],
        app_id=app_id,
        function_def=function,
        environment_name=ENVIRONMENT,
        serialized_params=base64.b64decode(os.environ.get(ENV_PARAMS, "")),
        app_layout=app_layout(api_pb2, io_, app_id, json.loads(os.environ.get(ENV_LAYOUT) or "{}"), needed, volume_ids),
    )
    arguments_path = home / ARGUMENTS_FILE
    arguments_path.write_bytes(arguments.SerializeToString())
    root = Path("/root") if in_image() else home / "root"
    root.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "NANO_MODAL_MODAL_"))}
    env.update(
        {
            "MODAL_SERVER_URL": modal_server_url(os.environ[config.ENV_SERVER_URL]),
            "MODAL_IS_REMOTE": "1",
            "MODAL_TASK_ID": io_.container_id,
            "MODAL_CONTAINER_ARGUMENTS_PATH": str(arguments_path),
            "MODAL_OVERRIDE_HEADERS": f"{config.TOKEN_METADATA_KEY}:{os.environ[config.ENV_TOKEN]}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")])),
            "PATH": image_path(os.environ.get("PATH", "")),
        }
    )
    if not in_image():  # an image's own WORKDIR is the working directory, as in Modal
        os.chdir(root)
    # With volumes, nano-modal syncs them and answers their commits in that process first.
    # Without, modal_main.py runs Modal's entrypoint where SIGUSR2 starts the agent (container exec).
    argv = module_argv(VOLUMES_MODULE if volume_ids else MODAL_MAIN)
    os.execve(sys.executable, argv, env)
