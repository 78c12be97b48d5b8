"""Turn a decorated function or class into the FunctionDefinition the server stores."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import cloudpickle

from . import config
from ._source import script_module_name, source_archive
from .client import Client
from .cloud_bucket_mount import resolve_bucket_mounts
from .exception import InvalidError
from .image import Image, check_python
from .proto import api_pb2
from .retries import Retries
from .secret import resolve_secrets, validate_secrets
from .serialization import serialize
from .volume import resolve_mounts, validate_mounts
from .web import WEB_MARK

CONCURRENT_MARK = "__nano_modal_concurrent__"  # set by @nano_modal.concurrent: (max_inputs, target_inputs)
BATCHED_MARK = "__nano_modal_batched__"  # set by @nano_modal.batched: (max_batch_size, wait_ms)


@dataclass
class FunctionOptions:
    """What `@app.function(...)` / `@app.cls(...)` say about how to run the code."""

    timeout: float = config.DEFAULT_TIMEOUT
    retries: Retries = field(default_factory=lambda: Retries(0))
    max_containers: int | None = None
    min_containers: int = 0
    scaledown_window: float | None = None
    max_inputs: int | None = None
    cpu: float | None = None
    memory: int | None = None
    serialized: bool = False
    image: Image | None = None
    secrets: tuple[Any, ...] = ()
    volumes: dict[str, Any] = field(default_factory=dict)
    block_network: bool = False
    max_concurrent_inputs: int = 0
    batch_max_size: int = 0
    batch_wait_ms: int = 0
    schedule: Any = None  # Period | Cron: only deployed apps run on a schedule
    web: api_pb2.WebEndpoint | None = None  # set by @fastapi_endpoint / @asgi_app / @wsgi_app
    gpu: str = ""  # normalized gpu= spec (see _gpu.py)
    restrict_modal_access: bool = False
    ephemeral_disk: int | None = None  # MiB: the size of each container's disk (a limit, not a reservation)

    def validate(self, name: str) -> None:
        def bad(what: str) -> InvalidError:
            return InvalidError(f"{name}: {what}")

        if not self.timeout > 0:
            raise bad(f"timeout must be positive, got {self.timeout}")
        if self.max_containers is not None and self.max_containers < 1:
            raise bad(f"max_containers must be at least 1, got {self.max_containers}")
        if self.min_containers < 0:
            raise bad(f"min_containers must be >= 0, got {self.min_containers}")
        if self.max_containers is not None and self.min_containers > self.max_containers:
            raise bad("min_containers cannot exceed max_containers")
        if self.max_inputs is not None and self.max_inputs < 1:
            raise bad(f"max_inputs must be at least 1, got {self.max_inputs}")
        if self.cpu is not None and self.cpu <= 0:
            raise bad(f"cpu must be positive, got {self.cpu}")
        if self.memory is not None and self.memory <= 0:
            raise bad(f"memory (MiB) must be positive, got {self.memory}")
        if self.ephemeral_disk is not None and self.ephemeral_disk <= 0:
            raise bad(f"ephemeral_disk (MiB) must be positive, got {self.ephemeral_disk}")
        if self.scaledown_window is not None and self.scaledown_window <= 0:
            raise bad(f"scaledown_window must be positive, got {self.scaledown_window}")
        if self.max_concurrent_inputs and self.batch_max_size:
            raise bad("a function cannot be both @concurrent and @batched")
        if self.image is not None and not isinstance(self.image, Image):
            raise bad(f"image must be a nano_modal.Image, got {type(self.image).__name__}")
        validate_secrets(self.secrets, name)
        validate_mounts(self.volumes, name)

    def read_marks(self, raw: Any) -> None:
        """Pick up @concurrent / @batched placed under the @app.function() / @app.cls() decorator."""
        if (mark := getattr(raw, CONCURRENT_MARK, None)) is not None:
            self.max_concurrent_inputs = mark[0]
        if (mark := getattr(raw, BATCHED_MARK, None)) is not None:
            self.batch_max_size, self.batch_wait_ms = mark
        if (mark := getattr(raw, WEB_MARK, None)) is not None:
            self.web = mark

    def apply(self, definition: api_pb2.FunctionDefinition) -> None:
        definition.timeout = self.timeout
        definition.retries.CopyFrom(self.retries.to_proto())
        definition.max_containers = self.max_containers or 0
        definition.min_containers = self.min_containers
        definition.scaledown_window = self.scaledown_window or 0
        definition.max_inputs = self.max_inputs or 0
        definition.cpu = self.cpu or 0
        definition.memory_mb = self.memory or 0
        definition.block_network = self.block_network
        definition.max_concurrent_inputs = self.max_concurrent_inputs
        definition.batch_max_size = self.batch_max_size
        definition.batch_wait_ms = self.batch_wait_ms
        definition.gpu = self.gpu
        definition.restrict_modal_access = self.restrict_modal_access
        definition.ephemeral_disk_mb = self.ephemeral_disk or 0
        if self.schedule is not None:
            definition.schedule.CopyFrom(self.schedule.to_proto())
        if self.web is not None:
            definition.web.CopyFrom(self.web)


async def build_definition(
    client: Client,
    name: str,
    raw: Any,
    options: FunctionOptions,
    *,
    is_generator: bool = False,
    is_async: bool = False,
    methods: list[api_pb2.MethodDefinition] | None = None,
) -> api_pb2.FunctionDefinition:
    definition = api_pb2.FunctionDefinition(
        name=name,
        is_generator=is_generator,
        is_async=is_async,
        is_class=methods is not None,
        methods=methods or [],
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
    )
    options.apply(definition)
    # Objects are hydrated here: named ones must exist, in-code secrets are sent (encrypted) to the server.
    definition.secret_ids.extend(await resolve_secrets(options.secrets))
    definition.volume_mounts.extend(await resolve_mounts(options.volumes))
    definition.cloud_bucket_mounts.extend(await resolve_bucket_mounts(options.volumes))
    module_name = raw.__module__
    import_name = script_module_name() if module_name == "__main__" else module_name
    archive = None if (options.serialized or import_name is None) else source_archive(module_name)
    if options.image is not None:  # checked before anything is uploaded
        check_python(options.image, archive is None, name)
        definition.image.CopyFrom(await options.image.to_proto(client))
    if archive is None:
        # By value: __main__, notebooks, serialized=True, or a module with no file to ship. A
        # module the container cannot import must travel by value too, not as a reference.
        module = sys.modules.get(module_name)
        by_value = module is not None and module_name != "__main__"
        if by_value:
            cloudpickle.register_pickle_by_value(module)
        try:
            definition.pickled_blob_id = await client.upload_blob(serialize(raw))
        finally:
            if by_value:
                cloudpickle.unregister_pickle_by_value(module)
    else:
        definition.module_name = import_name or module_name
        definition.source_blob_id = await client.upload_blob(archive)
    return definition
