"""`Function.info()`: a FunctionDefinition the server holds, as Modal's `types.FunctionInfo`."""

from __future__ import annotations

from .cloud_bucket_mount import bucket_type
from .proto import api_pb2
from .types import CloudBucketMountInfo, FunctionInfo, VolumeMountInfo


def function_info(definition: api_pb2.FunctionDefinition, web_url: str | None) -> FunctionInfo:
    schedule = definition.schedule
    every = []
    if schedule.period_months:
        every.append(f"{schedule.period_months} months")
    if schedule.period_seconds:
        every.append(f"{schedule.period_seconds:g}s")
    shown_schedule = schedule.cron or (f"every {' '.join(every)}" if every else None)
    batching = definition.batch_max_size
    concurrency = definition.max_concurrent_inputs
    web = definition.web  # web_url: None unless it is an endpoint
    return FunctionInfo(
        cpu=definition.cpu or None,
        memory_mib=definition.memory_mb or None,
        gpus=gpus(definition.gpu),
        image_info=FunctionInfo.ImageInfo(None, definition.image.image_id or None),
        timeout=int(definition.timeout),
        max_retries=definition.retries.max_retries if definition.HasField("retries") else None,
        schedule=shown_schedule,
        restrict_modal_access=definition.restrict_modal_access,
        block_network=definition.block_network,
        single_use_containers=definition.max_inputs == 1,
        volumes={m.mount_path: VolumeMountInfo(None, m.volume_id, m.read_only) for m in definition.volume_mounts},
        secrets=list(definition.secret_ids),
        cloud_bucket_mounts={
            m.mount_path: CloudBucketMountInfo(
                m.bucket_name, bucket_type(m.bucket_endpoint_url), m.read_only, m.key_prefix or None
            )
            for m in definition.cloud_bucket_mounts
        },
        batching_info=FunctionInfo.BatchingInfo(batching, definition.batch_wait_ms) if batching else None,
        concurrency_info=FunctionInfo.ConcurrencyInfo(concurrency, None) if concurrency else None,
        web_info=FunctionInfo.WebInfo(web_url, web.method or None, not web.requires_proxy_auth)
        if web.kind and web_url
        else None,
        method_names=[m.name for m in definition.methods] if definition.is_class else None,
    )


def gpus(spec: str) -> list[tuple[str, int]]:
    """`gpu="A100:2"` -> [("A100", 2)]; of fallbacks ("H100,A100") the first; "" -> []."""
    if not spec:
        return []
    first = spec.split(",")[0].strip()
    name, _, count = first.partition(":")
    return [(name, int(count) if count.isdigit() else 1)]
