"""Two apps in two workspaces: for tests/security/test_workspaces.py. The victim's app is in
the default workspace; the intruder's runs with a token of another workspace and tries to
reach the victim's objects, function and calls, by name and by id, from its container."""

from __future__ import annotations

import io
from typing import Any

import nano_modal

victim = nano_modal.App("ws-victim")
intruder = nano_modal.App("ws-intruder")

SECRET_NAME = "ws-victim-secret"
DICT_NAME = "ws-victim-dict"
QUEUE_NAME = "ws-victim-queue"
VOLUME_NAME = "ws-victim-volume"
SECRET_VALUE = "victim-secret-value-5d1c"
LOG_LINE = "victim-log-line-77a0"


@victim.function()
def echo(x: str) -> str:
    print(LOG_LINE, flush=True)
    return f"echo:{x}"


@victim.cls()
class Scaler:
    factor: int = nano_modal.parameter(default=2)

    @nano_modal.method()
    def scale(self, x: int) -> int:
        return x * self.factor


def _outcome(attempt: Any) -> str:
    """What an attempt got: READ and the value, or the error it raised."""
    try:
        return f"READ: {attempt()!r}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _sandbox_env(secret_id: str, how: str, app: nano_modal.App | None) -> str:
    secret = nano_modal.Secret.from_id(secret_id)
    if how == "create":
        sb = nano_modal.Sandbox.create("bash", "-c", 'echo "[$SECRET]"', secrets=[secret], timeout=60, app=app)
        sb.wait()
        return str(sb.stdout.read())
    sb = nano_modal.Sandbox.create(timeout=60, app=app)
    try:
        return str(sb.exec("bash", "-c", 'echo "[$SECRET]"', secrets=[secret]).stdout.read())
    finally:
        sb.terminate()


def attacks(ids: dict[str, str], app: nano_modal.App | None = None) -> dict[str, str]:
    """Every read of the victim's things an intruder can try through the SDK, by name and by id
    (`app`: the intruder's own, for its sandboxes; in a container, the container's)."""
    d = nano_modal.Dict.from_id(ids["dict"])
    q = nano_modal.Queue.from_id(ids["queue"])
    v = nano_modal.Volume.from_id(ids["volume"])
    return {
        "secret by name": _outcome(lambda: nano_modal.Secret.from_name(SECRET_NAME).hydrate()),
        "dict by name": _outcome(lambda: nano_modal.Dict.from_name(DICT_NAME).get("key")),
        "queue by name": _outcome(lambda: nano_modal.Queue.from_name(QUEUE_NAME).len()),
        "volume by name": _outcome(lambda: nano_modal.Volume.from_name(VOLUME_NAME).listdir("/")),
        "function by name": _outcome(lambda: nano_modal.Function.from_name("ws-victim", "echo").remote("x")),
        "dict by id": _outcome(lambda: d.get("key")),
        "dict contents by id": _outcome(lambda: list(d.items())),
        "dict write by id": _outcome(lambda: d.put("key", "overwritten")),
        "queue by id": _outcome(lambda: q.get(block=False)),
        "queue length by id": _outcome(lambda: q.len()),
        "volume by id": _outcome(lambda: b"".join(v.read_file("file.txt"))),
        "volume write by id": _outcome(lambda: _overwrite(v)),
        "function by id": _outcome(lambda: nano_modal.Function.from_id(ids["function"]).remote("x")),
        "call by id": _outcome(lambda: nano_modal.FunctionCall.from_id(ids["call"]).get(timeout=5)),
        "call cancel by id": _outcome(lambda: nano_modal.FunctionCall.from_id(ids["call"]).cancel()),
        "sandbox secrets by id": _outcome(lambda: _sandbox_env(ids["secret"], "create", app)),
        "exec secrets by id": _outcome(lambda: _sandbox_env(ids["secret"], "exec", app)),
    }


def _overwrite(v: nano_modal.Volume) -> None:
    with v.batch_upload(force=True) as batch:
        batch.put_file(io.BytesIO(b"overwritten"), "file.txt")


@intruder.function()
def intrude(ids: dict[str, str]) -> dict[str, str]:
    return attacks(ids)


prober = nano_modal.App("ws-main-prober")  # the default workspace's, like the victim


def _grpc_outcome(attempt: Any) -> str:
    import grpc

    try:
        return f"READ: {attempt()!r}"
    except grpc.RpcError as exc:
        return f"{exc.code().name}: {exc.details()}"  # type: ignore[attr-defined]


@prober.function()
def modal_protocol(dict_id: str) -> dict[str, str]:
    """Another workspace's dict, named by id over Modal's own client protocol with this
    container's token (what the real `modal` client in a container would send)."""
    import os

    import grpc
    from google.protobuf import empty_pb2
    from modal_proto import api_pb2 as mpb

    channel = grpc.insecure_channel(os.environ["NANO_MODAL_SERVER_URL"])
    metadata = (("x-nano-modal-token", os.environ["NANO_MODAL_TOKEN"]),)
    contents = channel.unary_stream(
        "/modal.client.ModalClient/DictContents",
        request_serializer=mpb.DictContentsRequest.SerializeToString,
        response_deserializer=mpb.DictEntry.FromString,
    )
    clear = channel.unary_unary(
        "/modal.client.ModalClient/DictClear",
        request_serializer=mpb.DictClearRequest.SerializeToString,
        response_deserializer=empty_pb2.Empty.FromString,
    )
    request = mpb.DictContentsRequest(dict_id=dict_id, keys=True, values=True)
    return {
        "contents": _grpc_outcome(lambda: [e.value for e in contents(request, metadata=metadata, timeout=10)]),
        "clear": _grpc_outcome(lambda: clear(mpb.DictClearRequest(dict_id=dict_id), metadata=metadata, timeout=10)),
    }
