"""Every setting, environment variable and tuning constant of nano-modal, in one place.

Settings are read from the environment first, then from `$NANO_MODAL_HOME/config.toml`
(written by `nano-modal token set`). With no server configured, the SDK starts an
embedded server and worker for the duration of the run.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

PROTOCOL_VERSION = 1

# --- environment variables -------------------------------------------------------------
ENV_HOME = "NANO_MODAL_HOME"  # state directory, default ~/.nano-modal
ENV_SERVER_URL = "NANO_MODAL_SERVER_URL"  # host:port of a running server; unset means embedded
ENV_TOKEN = "NANO_MODAL_TOKEN"  # the credential a client presents
ENV_CONTAINER_ID = "NANO_MODAL_CONTAINER_ID"  # set only inside containers
ENV_IS_REMOTE = "NANO_MODAL_IS_REMOTE"  # "1" inside a container
ENV_BLOCK_NETWORK = "NANO_MODAL_BLOCK_NETWORK"  # "1" in a ContainerSpec's env: no network but loopback

TOKEN_METADATA_KEY = "x-nano-modal-token"  # gRPC metadata header that carries the token

# --- payloads --------------------------------------------------------------------------
INLINE_PAYLOAD_LIMIT = 2 * 1024 * 1024  # larger pickles go to the blob store
BLOB_CHUNK_SIZE = 1024 * 1024  # streaming chunk for BlobPut / BlobGet
GRPC_MAX_MESSAGE = 64 * 1024 * 1024  # batches of inline payloads can exceed gRPC's 4 MiB default

# --- client ----------------------------------------------------------------------------
CONNECT_TIMEOUT = 5.0  # seconds to reach a server before failing with a clear error
MAP_MAX_INFLIGHT = 10_000  # inputs sent but not yet answered, per map (backpressure)
MAP_INPUT_BATCH = 1_000  # inputs per FunctionPutInputs request
MAP_INPUT_BATCH_BYTES = 4 * 1024 * 1024  # ... or this many payload bytes, whichever first
OUTPUTS_POLL_TIMEOUT = 10.0  # seconds a FunctionGetOutputs long-poll waits server-side
REMOTE_FAST_PATH_WAIT = 10.0  # seconds FunctionMap waits for the output of a .remote()
APP_HEARTBEAT_INTERVAL = 5.0  # ephemeral apps are stopped when their client goes silent

# --- server ----------------------------------------------------------------------------
APP_CLIENT_TIMEOUT = 30.0  # stop an ephemeral app this long after its client's last heartbeat
WORKER_TIMEOUT = 15.0  # a worker silent this long is dead; its containers too
CONTAINER_START_TIMEOUT = 60.0  # a container that never says hello in time is given up
SCHEDULER_TICK = 0.05  # seconds between autoscaler passes (also woken by new inputs)
DEFAULT_CPU = 0.25  # cores reserved per container when the function asks for none
DEFAULT_MEMORY_MB = 128  # memory reserved per container when the function asks for none
DEFAULT_SCALEDOWN_WINDOW = 60.0  # seconds an idle container is kept warm (Modal's default)
DEFAULT_TIMEOUT = 300.0  # seconds per input (Modal's default)
WORKER_CPU_OVERCOMMIT = 4.0  # containers may reserve this many times the worker's cores
OUTPUT_RETENTION = 7 * 24 * 3600.0  # seconds results of finished calls are kept
CALL_MEMORY_IDLE = 600.0  # finished calls untouched this long leave memory (still in the store)

# --- container -------------------------------------------------------------------------
CONTAINER_HEARTBEAT_INTERVAL = 5.0  # seconds between a container's heartbeats
CONTAINER_HEARTBEAT_TIMEOUT = 30.0  # a running container silent this long is stopped and replaced
CONTAINER_MAX_BATCH = 100  # inputs a container takes at once when the queue is deep


@dataclass(frozen=True)
class ClientConfig:
    server_url: str | None
    token: str | None


def home_dir() -> Path:
    path = Path(os.environ.get(ENV_HOME) or Path.home() / ".nano-modal")
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_file() -> Path:
    return home_dir() / "config.toml"


def _read_config_file() -> dict[str, str]:
    path = config_file()
    if not path.exists():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {k: str(v) for k, v in data.items() if isinstance(v, str | int | float)}


def client_config() -> ClientConfig:
    file_values = _read_config_file()
    server_url = os.environ.get(ENV_SERVER_URL) or file_values.get("server_url") or None
    token = os.environ.get(ENV_TOKEN) or file_values.get("token") or None
    return ClientConfig(server_url=server_url, token=token)


def write_client_config(server_url: str, token: str) -> Path:
    path = config_file()
    path.write_text(f'server_url = "{server_url}"\ntoken = "{token}"\n')
    path.chmod(0o600)
    return path


def is_remote() -> bool:
    return os.environ.get(ENV_IS_REMOTE) == "1"
