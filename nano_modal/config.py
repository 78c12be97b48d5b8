"""Every setting, environment variable and tuning constant of nano-modal, in one place.

Settings are read from the environment first, then from `$NANO_MODAL_HOME/config.toml`
(written by `nano-modal token set`). With no server configured, the SDK uses the local
server and worker of `$NANO_MODAL_HOME/local` (embedded.py), started by the first run that needs them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

PROTOCOL_VERSION = 1

# --- environment variables -------------------------------------------------------------
ENV_HOME = "NANO_MODAL_HOME"  # state directory, default ~/.nano-modal
ENV_SERVER_URL = "NANO_MODAL_SERVER_URL"  # host:port of a running server; unset means embedded
ENV_TOKEN = "NANO_MODAL_TOKEN"  # the credential a client presents
ENV_FAST_LANE = "NANO_MODAL_FAST_LANE"  # "0": send every call over gRPC (see _fast_lane.py)
# The server's fast-lane port, when known before a Hello (a container sets it for its code's
# client): the client's Hello goes over it, so a process forked beside gRPC's threads, where a
# first gRPC call may never return, still connects.
ENV_FAST_LANE_PORT = "NANO_MODAL_FAST_LANE_PORT"
ENV_FORCE_BUILD = "NANO_MODAL_FORCE_BUILD"  # "1": every image build step ignores the cache (MODAL_FORCE_BUILD)
ENV_CONTAINER_ID = "NANO_MODAL_CONTAINER_ID"  # set only inside containers
ENV_MODAL_BUNDLE = "NANO_MODAL_MODAL_BUNDLE"  # in a container of a function defined with the real modal client
ENV_IS_REMOTE = "NANO_MODAL_IS_REMOTE"  # "1" inside a container
# What Modal's runtime tells every container about itself (modal.com/docs/guide/environment_variables),
# which programs and libraries ported from Modal read. A self-hosted cluster has no cloud or region.
MODAL_CLOUD_PROVIDER = "nano-modal"
MODAL_REGION = "local"


def modal_container_env(container_id: str, image_id: str) -> dict[str, str]:
    """Modal's variables of every container (a function's adds MODAL_IS_REMOTE and MODAL_ENVIRONMENT)."""
    return {
        "MODAL_TASK_ID": container_id,
        "MODAL_IMAGE_ID": image_id,
        "MODAL_CLOUD_PROVIDER": MODAL_CLOUD_PROVIDER,
        "MODAL_REGION": MODAL_REGION,
    }


ENV_BLOCK_NETWORK = "NANO_MODAL_BLOCK_NETWORK"  # "1" in a ContainerSpec's env: no network but loopback
ENV_OUTBOUND_ALLOWLIST = "NANO_MODAL_OUTBOUND_ALLOWLIST"  # a sandbox's outbound_cidr_allowlist, comma-separated
ENV_STORE = "NANO_MODAL_STORE"  # the server's --store default: SQLAlchemy URL of the state store
# The server's --web-domain default: each web endpoint answers at <label>.<domain> (e.g. nano.localhost)
ENV_WEB_DOMAIN = "NANO_MODAL_WEB_DOMAIN"
ENV_ADVERTISE = "NANO_MODAL_ADVERTISE"  # the server's --advertise default: host:port where other servers reach it
# The server's --queue default: redis://host:port/db keeps Queue items in Redis (unset: in the state store)
ENV_QUEUE = "NANO_MODAL_QUEUE"
ENV_RUNTIME = "NANO_MODAL_RUNTIME"  # a worker's default --runtime: auto, bwrap, gvisor or process
# A root worker's containers run as host uids from here up, 65536 per container (worker/uid_ranges.py).
ENV_CONTAINER_UID_BASE = "NANO_MODAL_CONTAINER_UID_BASE"
ENV_PREBOOT = "NANO_MODAL_PREBOOT"  # a worker's default --preboot: function containers booted ahead of need

TOKEN_METADATA_KEY = "x-nano-modal-token"  # gRPC metadata header that carries the token

# --- payloads --------------------------------------------------------------------------
INLINE_PAYLOAD_LIMIT = 2 * 1024 * 1024  # larger pickles go to the blob store
BLOB_CHUNK_SIZE = 1024 * 1024  # streaming chunk for BlobPut / BlobGet
GRPC_MAX_MESSAGE = 64 * 1024 * 1024  # batches of inline payloads can exceed gRPC's 4 MiB default
# A request or response body relayed through a tunnel (modal.forward) rides in one gRPC message.
TUNNEL_MAX_BODY = GRPC_MAX_MESSAGE // 2


def grpc_channel_options() -> list[tuple[str, int]]:
    """Every gRPC channel's options (the SDK's, the worker's, a container's)."""
    return [
        ("grpc.max_send_message_length", GRPC_MAX_MESSAGE),
        ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def grpc_server_options() -> list[tuple[str, int]]:
    """The server's: it must accept the channels' keepalive pings. gRPC's default lets an idle
    client ping at most every 5 minutes and answers more with GOAWAY "too_many_pings", which
    dropped idle clients (a long image build under load) mid-call."""
    return [
        *grpc_channel_options(),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 0),  # never hang up on a client for its pings
    ]


# --- client ----------------------------------------------------------------------------
CONNECT_TIMEOUT = 5.0  # seconds to reach a server before failing with a clear error
MAP_MAX_INFLIGHT = 10_000  # inputs sent but not yet answered, per map (backpressure)
MAP_INPUT_BATCH = 1_000  # inputs per FunctionPutInputs request
MAP_INPUT_BATCH_BYTES = 4 * 1024 * 1024  # ... or this many payload bytes, whichever first
OUTPUTS_POLL_TIMEOUT = 10.0  # seconds a FunctionGetOutputs long-poll waits server-side
REMOTE_FAST_PATH_WAIT = 10.0  # seconds FunctionMap waits for the output of a .remote()
APP_HEARTBEAT_INTERVAL = 5.0  # ephemeral apps are stopped when their client goes silent
# Once connected, a call that finds the server unreachable (restarting) is retried with backoff
# for this long before failing with ConnectionError. The first connection fails fast (CONNECT_TIMEOUT).
RECONNECT_TIMEOUT = float(os.environ.get("NANO_MODAL_RECONNECT_TIMEOUT") or 60.0)

# --- server ----------------------------------------------------------------------------
# Stop an ephemeral app this long after its client's last heartbeat (keep it above APP_HEARTBEAT_INTERVAL).
APP_CLIENT_TIMEOUT = float(os.environ.get("NANO_MODAL_APP_CLIENT_TIMEOUT") or 30.0)
# A worker silent this long is dead: its containers too, and the inputs they held run elsewhere.
# Lower it (tests, small clusters) to reassign faster; a worker's poll is held at most a third of it.
WORKER_TIMEOUT = float(os.environ.get("NANO_MODAL_WORKER_TIMEOUT") or 15.0)
# The state store's connection is lost (database restarting): retry each operation this long,
# then the server exits so that its supervisor restarts it on the durable state.
STORE_RETRY_TIMEOUT = float(os.environ.get("NANO_MODAL_STORE_RETRY_TIMEOUT") or 30.0)
# How long a client rides out a server that does not answer an idempotent call (a poll, a get):
# the server's own store-retry window above, plus the time to answer once the store is back,
# and never less than RECONNECT_TIMEOUT. One setting (STORE_RETRY_TIMEOUT) for both sides.
SERVER_WAIT_TIMEOUT = max(RECONNECT_TIMEOUT, STORE_RETRY_TIMEOUT + 4 * CONNECT_TIMEOUT)
SERVER_WAIT_NOTICE = 5.0  # seconds of waiting for the server before the client says so on stderr
# Redis holding Queue items (--queue) is unreachable (restarting): retry each operation this long,
# then that Queue call fails with a clear error (the server keeps running).
QUEUE_REDIS_RETRY_TIMEOUT = float(os.environ.get("NANO_MODAL_QUEUE_RETRY_TIMEOUT") or 30.0)
CONTAINER_START_TIMEOUT = 60.0  # a container that never says hello in time is given up
CONTAINER_START_FAILURES = 3  # containers dying before hello, in a row, that fail the function's calls
# Seconds before a function whose containers failed to start is tried again (sooner when a worker
# joins or restarts); doubled for each failure in a row, up to START_RETRY_MAX.
START_RETRY_BACKOFF = float(os.environ.get("NANO_MODAL_START_RETRY_BACKOFF") or 30.0)
START_RETRY_MAX = 600.0
SCHEDULER_TICK = 0.05  # seconds between autoscaler passes (also woken by inputs no parked container takes)
DEFAULT_CPU = 0.25  # cores reserved per container when the function asks for none
DEFAULT_MEMORY_MB = 128  # memory reserved per container when the function asks for none
DEFAULT_SCALEDOWN_WINDOW = 60.0  # seconds an idle container is kept warm (Modal's default)
DEFAULT_TIMEOUT = 300.0  # seconds per input (Modal's default)
SCALE_UP_MIN_DRAIN = 2.0  # no new container for a queue the live ones clear faster than this (seconds)
WORKER_CPU_OVERCOMMIT = 4.0  # containers may reserve this many times the worker's cores
# A container whose threads run or wait to run this many cores' worth of the time (worker/cpu_use.py)
# is CPU-bound: its function gets one container per core, not WORKER_CPU_OVERCOMMIT times more.
CPU_BOUND_DEMAND = 0.5
# A worker whose containers demand this share of its cores takes no more CPU-bound containers.
HOST_SATURATED = 0.9
ENV_OUTPUT_RETENTION = "NANO_MODAL_OUTPUT_RETENTION"
# Seconds calls are kept after they start, with their inputs, results and the blobs those name.
OUTPUT_RETENTION = float(os.environ.get(ENV_OUTPUT_RETENTION) or 7 * 24 * 3600.0)
CALL_MEMORY_IDLE = 600.0  # finished calls untouched this long leave memory (still in the store)
LEADER_POLL_INTERVAL = 1.0  # seconds between a follower server's tries for the store lease (and lease checks)
FOLLOWER_PATIENCE = 15.0  # seconds a follower holds a unary call while no active server answers (a takeover)
FOLLOWER_MAX_LANES = 256  # fast-lane connections a follower keeps to the active server (one per caller token)
LEADER_TAKEOVER_GRACE = 3.0  # a follower that got the lease waits this long: the old server has seen it lost

# --- container -------------------------------------------------------------------------
CONTAINER_HEARTBEAT_INTERVAL = 5.0  # seconds between a container's heartbeats
CONTAINER_HEARTBEAT_TIMEOUT = 30.0  # a running container silent this long is stopped and replaced
CONTAINER_MAX_BATCH = 100  # inputs a container takes at once when the queue is deep
# Seconds a container waits for one answer of the server before it resends the call (the calls
# that may be resent, container/io.py), for up to SERVER_WAIT_TIMEOUT in all.
CONTAINER_CALL_TIMEOUT = 30.0
# A container being stopped gets SIGTERM, then SIGKILL after a grace period: this one when it
# mounts a writable volume, whose commit on exit may take a while (a big file), else 2 s.
VOLUME_EXIT_GRACE = float(os.environ.get("NANO_MODAL_VOLUME_EXIT_GRACE") or 60.0)
# The container's exit code when a volume's commit on exit failed (its stderr says which and why).
EXIT_VOLUME_COMMIT_FAILED = 75

# --- web endpoints ----------------------------------------------------------------------
WEB_METHOD = "__web__"  # method_name of inputs that carry an HTTP request or a WebSocket session
# The `type` of the part a container sends after an HTTP response's last byte: the gateway ends
# the response there, while the app may still work (background tasks) until the call ends.
WEB_RESPONSE_END = "http.response.end"
# Seconds the gateway waits for a container to start answering (or to send its next chunk)
# before it answers 504 and cancels the call, so that the container is freed.
WEB_RESPONSE_TIMEOUT = float(os.environ.get("NANO_MODAL_WEB_RESPONSE_TIMEOUT") or 150.0)
WEB_DISCONNECT_POLL = 1.0  # seconds between checks that a client waiting for a response head is still there
WEB_RECEIVE_POLL = 20.0  # seconds a container long-polls for a WebSocket client's next message
WEB_SERVER_STARTUP_TIMEOUT = 5.0  # @web_server: seconds to wait for the port (Modal's default)

# --- objects: Dict, Queue, Secret, Volume -------------------------------------------------
ENV_ENVIRONMENT = "NANO_MODAL_ENVIRONMENT"  # default environment of named objects ("main" when unset)
DEFAULT_ENVIRONMENT = "main"
# The workspace of the server's admin token, and of everything made before workspaces existed.
DEFAULT_WORKSPACE = "main"
# In a ContainerSpec's env: JSON list of {"path", "volume_id", "read_only"}, one per volume the
# function mounts. Informational for runtimes that can bind-mount (bwrap); the container itself
# reads its mounts from its FunctionDefinition.
ENV_VOLUMES = "NANO_MODAL_VOLUMES"
# Set by a runtime that already gave the container a private directory at each mount path:
# JSON {mount_path: directory}. Without it (the `process` runtime) the container materializes
# each volume in a per-host cache directory and symlinks the mount path to it.
ENV_MOUNTS = "NANO_MODAL_MOUNTS"
# In a ContainerSpec's env: JSON list, one item per CloudBucketMount (_bucket_sync.server_entry),
# with the credentials of its secret; the worker takes those out before the container starts.
ENV_BUCKETS = "NANO_MODAL_BUCKETS"
OBJECT_NAME_MAX = 64  # characters in an object name (Modal's limit)
DICT_MAX_KEY_BYTES = 64 * 1024  # a pickled Dict key: keys are compared as bytes and indexed by hash
DICT_MAX_VALUE_BYTES = 2 * 1024 * 1024  # a pickled Dict value (kept inline in the state store)
QUEUE_MAX_ITEM_BYTES = 1024 * 1024  # a pickled Queue item (Modal's limit)
QUEUE_MAX_PARTITION_ITEMS = 5_000  # items in one partition; put() blocks (or raises queue.Full) beyond it
QUEUE_MAX_PARTITION_KEY = 64  # bytes of a partition key
QUEUE_PARTITION_TTL = 24 * 3600.0  # seconds a partition lives after its last put (Modal's default and cap)
QUEUE_EXPIRY_INTERVAL = 1.0  # seconds between sweeps for expired queue partitions
DICT_PAGE_SIZE = 1_000  # entries per DictContents page when iterating
DICT_CACHE_BYTES = 64 * 1024 * 1024  # server memory for recently used Dict entries (reads skip the store)
QUEUE_POLL_TIMEOUT = 50.0  # seconds one blocking QueueGet/QueuePut waits server-side before the client asks again
EPHEMERAL_OBJECT_HEARTBEAT = 5.0  # seconds between a client's heartbeats for an ephemeral object it holds
EPHEMERAL_OBJECT_TIMEOUT = 60.0  # an ephemeral object without heartbeats this long is deleted
VOLUME_CHUNK_SIZE = 1024 * 1024  # streaming chunk for volume file uploads and downloads
VOLUME_MAX_COMMIT_FILES = 10_000  # file changes per VolumeCommit request (larger commits are split)
# Part of the server's NOT_FOUND message for a missing file, which the SDK turns into FileNotFoundError
# (a missing volume stays a NotFoundError).
VOLUME_FILE_NOT_FOUND = "no such file or directory in volume"


@dataclass(frozen=True)
class ClientConfig:
    server_url: str | None
    token: str | None


def home_dir() -> Path:
    from pathlib import Path  # here: a container's start-up does not need pathlib (nor tomllib)

    path = Path(os.environ.get(ENV_HOME) or Path.home() / ".nano-modal")
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_file() -> Path:
    return home_dir() / "config.toml"


def _read_config_file() -> dict[str, str]:
    path = config_file()
    if not path.exists():
        return {}
    import tomllib

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
    write_private(path, f'server_url = "{server_url}"\ntoken = "{token}"\n')
    return path


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read, from its creation on (a chmod after writing
    leaves a moment in which the secret is readable to all), tightening an existing one."""
    import errno

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # another user's symlink must not receive the secret
            raise PermissionError(f"{path} is a symbolic link: not writing a secret through it") from None
        raise
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(text)


def is_remote() -> bool:
    return os.environ.get(ENV_IS_REMOTE) == "1"


# --- images ----------------------------------------------------------------------------
# In a container: which image it runs (image.spec_definition_digest; "" for none), so that
# Image.imports() raises only in its own image's containers.
ENV_RUNNING_IMAGE = "NANO_MODAL_RUNNING_IMAGE"
ENV_IMAGES_DIR = "NANO_MODAL_IMAGES_DIR"  # where workers keep built images; default $NANO_MODAL_HOME/images
IMAGE_BUILD_TIMEOUT = 1800.0  # seconds a container may wait for its image to be built (on top of the start timeout)
IMAGE_BUILD_LOG_FD = 3  # LogLine.fd of image build output (1 and 2: a container's stdout and stderr)
# A container's prints reach the caller before its result (container/log_sync.py): after an input
# that printed, it writes LOG_SYNC_MARK + the input id on each stream it printed to; the worker
# relays that as a LogLine of fd LOG_SYNC_FD (never stored, never shown), and `.remote()` returns
# once its log printer has shown it, or after LOG_SYNC_WAIT seconds (lines lost on the way).
LOG_SYNC_FD = 4
LOG_SYNC_MARK = "\x00nano-modal-log-sync "
LOG_SYNC_WAIT = 5.0
# Whose prints follow (FunctionCall.logs): when the call printing through sys.stdout/stderr changes,
# the container writes LOG_CONTEXT_MARK + the call id ("" outside any input) as a line of its own;
# the worker tags the stream's next lines with it (LogLine.call_id) and ships no line for it.
LOG_CONTEXT_MARK = "\x00nano-modal-log-call "
IMAGE_STEP_TAIL_LINES = 30  # lines of a failed step's output quoted in the error
# What the worker runs inside images: the SDK's source bound read-only, and the Python packages it
# imports (copied from the worker when the image's Python has its ABI, pip-installed otherwise).
IMAGE_SDK_DIR = "/opt/nano-modal/sdk"
IMAGE_DEPS_DIR = "/opt/nano-modal/deps"


def images_dir() -> Path:
    """Built images outlive servers (embedded ones included): kept under the home directory."""
    from pathlib import Path

    path = Path(os.environ.get(ENV_IMAGES_DIR) or home_dir() / "images")
    path.mkdir(parents=True, exist_ok=True)
    return path
