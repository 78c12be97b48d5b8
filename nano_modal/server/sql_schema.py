"""The state store's tables (SQLAlchemy Core); `migrations/` versions them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("workspace", sa.String(64), nullable=False, server_default="main"),
    sa.Column("tags", sa.JSON, nullable=False, server_default="{}"),  # App(tags=), App.set_tags: str -> str
    sa.Index("ix_apps_name_state", "name", "state"),
)

# A workspace scopes everything: apps (and so their functions, calls, containers and
# sandboxes) and objects. Its tokens are kept as sha256 digests only (workspaces.py).
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
    # What its live containers may hold at once (workspace_limits.py); 0: no limit.
    sa.Column("max_containers", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_cpu", sa.Float, nullable=False, server_default="0"),
    sa.Column("max_memory_mb", sa.Integer, nullable=False, server_default="0"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(64), nullable=False),
    sa.Column("invoke_only", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

proxy_tokens = sa.Table(
    "proxy_tokens",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("workspace", sa.String(64), nullable=False, server_default="main"),  # whose endpoints it opens
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("function_id", sa.String(64), primary_key=True),
    sa.Column("last_fire", sa.Float, nullable=False),  # the scheduled time of the last run started
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("app_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("tag", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("spec", sa.LargeBinary, nullable=False),
    sa.Column("rollback_of", sa.Integer, nullable=False),
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.Float, nullable=False, index=True),
    sa.Column("function_name", sa.String(255), nullable=False),
    sa.Column("container_id", sa.String(64), nullable=False),
    sa.Column("fd", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("call_id", sa.String(64), nullable=False, server_default=""),  # FunctionCall.logs
    sa.Index("ix_logs_app_seq", "app_id", "seq"),
)

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("function_id", sa.String(64), primary_key=True),
    sa.Column("app_id", sa.String(64), sa.ForeignKey("apps.app_id"), nullable=False, index=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("definition", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("call_id", sa.String(64), primary_key=True),
    sa.Column("function_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("num_inputs", sa.Integer, nullable=False),
    sa.Column("inputs_complete", sa.Boolean, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    # The input, run by a container, that made this call ("" from a client): call graphs.
    sa.Column("parent_input_id", sa.String(64), nullable=False, server_default="", index=True),
)

inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("input_id", sa.String(64), primary_key=True),
    sa.Column("call_id", sa.String(64), nullable=False, index=True),
    sa.Column("function_id", sa.String(64), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("args", sa.LargeBinary, nullable=False),
    sa.Column("args_blob", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("method_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("finished", sa.Boolean, nullable=False, index=True),
)

outputs = sa.Table(
    "outputs",
    metadata,
    sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(64), nullable=False),
    sa.Column("input_id", sa.String(64), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("data_blob", sa.String(64), nullable=False),
    sa.Column("exception_repr", sa.Text, nullable=False),
    sa.Column("traceback", sa.Text, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    # Function.stats / metrics (0 and "" on outputs written before these were kept):
    sa.Column("queued_at", sa.Float, nullable=False, server_default="0"),  # the input was accepted (unix s)
    sa.Column("finished_at", sa.Float, nullable=False, server_default="0", index=True),  # this output arrived
    sa.Column("run_seconds", sa.Float, nullable=False, server_default="0"),  # the container ran the input
    sa.Column("container_id", sa.String(64), nullable=False, server_default=""),  # which container answered
    sa.Index("ix_outputs_call_cursor", "call_id", "cursor"),
)

# A function's containers once they exited (live ones are in the server's memory): Function.stats.
container_runs = sa.Table(
    "container_runs",
    metadata,
    sa.Column("container_id", sa.String(64), primary_key=True),
    sa.Column("function_id", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),  # placed (unix s)
    sa.Column("ready_at", sa.Float, nullable=False),  # said hello; 0: never did
    sa.Column("exited_at", sa.Float, nullable=False, index=True),
    sa.Column("failed", sa.Boolean, nullable=False),  # ended on its own with an error, not stopped
)


# Image.publish: image definitions (ImageSpec) by "[environment/]name:tag", per workspace.
image_names = sa.Table(
    "image_names",
    metadata,
    sa.Column("workspace", sa.String(64), primary_key=True),
    sa.Column("tag", sa.String(255), primary_key=True),
    sa.Column("spec", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)


# ---------------------------------------------------------------- objects (dicts, queues, secrets, volumes)

_BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite autoincrements only INTEGER keys

objects = sa.Table(
    "objects",
    metadata,
    sa.Column("object_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("name", sa.String(255), nullable=True),  # NULL for ephemeral/anonymous: NULLs never collide
    sa.Column("environment", sa.String(255), nullable=False),
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("workspace", sa.String(64), nullable=False, server_default="main"),
    sa.UniqueConstraint("kind", "workspace", "environment", "name", name="uq_objects_ws_name"),
)

dict_entries = sa.Table(
    "dict_entries",
    metadata,
    sa.Column("entry_id", _BIGID, primary_key=True, autoincrement=True),  # insertion order, for iteration
    sa.Column("dict_id", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),  # sha256 of the pickled key: keys can be long
    sa.Column("key", sa.LargeBinary, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("dict_id", "key_hash", name="uq_dict_entries_key"),
)

queue_items = sa.Table(
    "queue_items",
    metadata,
    sa.Column("item_id", _BIGID, primary_key=True, autoincrement=True),  # FIFO order
    sa.Column("queue_id", sa.String(64), nullable=False),
    sa.Column("partition", sa.String(255), nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Index("ix_queue_items_head", "queue_id", "partition", "item_id"),
)

queue_partitions = sa.Table(
    "queue_partitions",
    metadata,
    sa.Column("queue_id", sa.String(64), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False),  # partition_ttl after its last put
    sa.Index("ix_queue_partitions_expires_at", "expires_at"),
)

secret_values = sa.Table(
    "secrets",
    metadata,
    sa.Column("secret_id", sa.String(64), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),  # Fernet token of the JSON variables
    sa.Column("updated_at", sa.Float, nullable=False),
)

volume_files = sa.Table(
    "volume_files",
    metadata,
    sa.Column("volume_id", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(4096), primary_key=True),
    sa.Column("blob_id", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mode", sa.Integer, nullable=False),
    sa.Column("mtime", sa.Float, nullable=False),
)
