"""The parts of Function that make variants of it or change it while it runs: `with_options`,
`with_concurrency`, `with_batching` (a variant is the same code bound on the server with other
options: its own pool of containers), `get_current_stats` and `update_autoscaler`."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._definition import FunctionOptions
from ._porting_options import apply_overrides, note_ignored, option_overrides
from ._utils.aio import twin
from .client import Client
from .exception import InvalidError
from .proto import api_pb2

if TYPE_CHECKING:
    from ._stats import FunctionMetricsManager
    from .functions import Function
    from .types import FunctionAutoscalerSettings, FunctionCurrentStats, FunctionStats


class FunctionVariants:
    """Mixed into Function; uses its hydration and identity."""

    raw_f: Callable[..., Any]
    name: str
    options: FunctionOptions
    is_generator: bool
    is_async: bool
    object_id: str | None
    _method_name: str
    _web_app_ref: str
    _resolver: Callable[[], Awaitable[None]] | None

    async def _hydrated(self, *, generator: bool | None = None) -> tuple[Client, str]:
        raise NotImplementedError

    # ------------------------------------------------------------------ variants

    def with_options(
        self,
        *,
        cpu: float | None = None,
        memory: int | None = None,
        gpu: str | list[str] | None = None,
        env: dict[str, str | None] | None = None,
        secrets: Sequence[Any] | None = None,
        volumes: dict[str, Any] | None = None,
        retries: int | Any | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: float | None = None,
        timeout: float | None = None,
        region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        routing_region: str | None = None,
    ) -> Function:
        """The same function with other resources, limits or environment: its own pool of
        containers. (Cloud-only options are accepted and ignored with a note.)"""
        cloud_only = {
            "buffer_containers": buffer_containers,
            "region": region,
            "cloud": cloud,
            "routing_region": routing_region,
        }
        overrides = option_overrides(
            "Function.with_options",
            cpu=cpu,
            memory=memory,
            gpu=gpu,
            env=env,
            secrets=secrets,
            volumes=volumes,
            retries=retries,
            max_containers=max_containers,
            scaledown_window=scaledown_window,
            timeout=timeout,
            cloud_only=cloud_only,
        )
        return self._variant(overrides)

    def with_concurrency(self, *, max_inputs: int, target_inputs: int | None = None) -> Function:
        """The same function with up to `max_inputs` inputs at once per container (as @concurrent)."""
        if max_inputs < 1:
            raise InvalidError(f"with_concurrency(max_inputs=...) must be at least 1, got {max_inputs}")
        del target_inputs  # nano-modal's autoscaler fills containers up to max_inputs
        return self._variant({"max_concurrent_inputs": max_inputs, "batch_max_size": 0, "batch_wait_ms": 0})

    def with_batching(self, *, max_batch_size: int, wait_ms: int) -> Function:
        """The same function called with batches of inputs (as @batched)."""
        from .cls import batched

        batched(max_batch_size=max_batch_size, wait_ms=wait_ms)  # the same limits, the same errors
        return self._variant({"batch_max_size": max_batch_size, "batch_wait_ms": wait_ms, "max_concurrent_inputs": 0})

    def _variant(self, overrides: dict[str, Any]) -> Function:
        """A handle on this function with changed options: bound on the server on first use."""
        if self._method_name:  # binding the class's id here would drop the instance's parameters
            raise InvalidError(f"{self.name} is a method: change a class's options with Cls.with_options")
        from .functions import Function

        variant = Function(None, self.raw_f, self.name, self.options)
        variant.is_generator, variant.is_async = self.is_generator, self.is_async
        variant._method_name = self._method_name

        async def resolve() -> None:
            client, parent_id = await self._hydrated()
            found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=parent_id))
            options = api_pb2.FunctionDefinition()
            options.CopyFrom(found.definition)
            await apply_overrides(options, overrides)
            request = api_pb2.FunctionBindParamsRequest(function_id=parent_id, definition=options)
            variant.object_id = (await client.stub.FunctionBindParams(request)).function_id
            variant._web_app_ref = self._web_app_ref

        variant._resolver = resolve
        return variant

    @twin
    async def get_current_stats(self) -> FunctionCurrentStats:
        """The function's load now: inputs waiting, live containers, inputs running."""
        from .types import FunctionCurrentStats

        client, function_id = await self._hydrated()
        request = api_pb2.FunctionGetRequest(function_id=function_id, include_stats=True)
        found = await client.stub.FunctionGet(request)
        stats, slots = found.stats, found.definition.max_concurrent_inputs or found.definition.batch_max_size
        return FunctionCurrentStats.of(int(stats.backlog), stats.num_total_runners, stats.num_running_inputs, slots)

    @twin
    async def stats(
        self,
        *,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        container: str | None = None,
        all_variants: bool = False,
    ) -> FunctionStats:
        """The function's inputs (counts, execution time and end-to-end latency percentiles) and
        containers (starts, errors, start-up time) over [since, until), the last hour by default.
        `container`: only that container's; `all_variants`: with the variants made from this
        function (with_options, with_concurrency, ...). Naive datetimes are local time."""
        from ._stats import function_stats

        client, function_id = await self._hydrated()
        return await function_stats(client, function_id, since, until, container, all_variants)

    @property
    def metrics(self) -> FunctionMetricsManager:
        """Time series of the function: `fn.metrics.export(...)`, and `fn.metrics.schema()`."""
        from ._stats import FunctionMetricsManager

        return FunctionMetricsManager(self)

    @property
    def autoscaler(self) -> AutoscalerManager:
        """`fn.autoscaler.settings()` and `fn.autoscaler.update(...)` (as update_autoscaler)."""
        return AutoscalerManager(self)

    @twin
    async def update_autoscaler(
        self,
        *,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
    ) -> FunctionAutoscalerSettings:
        """Change the running function's scaling at once, without redeploying (until the next deploy)."""

        note_ignored("Function.update_autoscaler", {"buffer_containers": buffer_containers})
        client, function_id = await self._hydrated()
        request = api_pb2.FunctionUpdateAutoscalerRequest(
            function_id=function_id,
            min_containers=min_containers,
            max_containers=max_containers,
            scaledown_window=scaledown_window,
        )
        return autoscaler_settings((await client.stub.FunctionUpdateAutoscaler(request)).definition)


class AutoscalerManager:
    """`Function.autoscaler`: the live function's scaling, read and changed."""

    def __init__(self, function: FunctionVariants) -> None:
        self._function = function

    @twin
    async def settings(self) -> FunctionAutoscalerSettings:
        """The scaling the function runs with now (its decorator's, or what update() set since)."""
        client, function_id = await self._function._hydrated()
        found = await client.stub.FunctionGet(api_pb2.FunctionGetRequest(function_id=function_id))
        return autoscaler_settings(found.definition)

    @twin
    async def update(
        self,
        *,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: int | None = None,
    ) -> FunctionAutoscalerSettings:
        """As `Function.update_autoscaler`."""
        result: FunctionAutoscalerSettings = await self._function.update_autoscaler.aio(
            min_containers=min_containers,
            max_containers=max_containers,
            buffer_containers=buffer_containers,
            scaledown_window=scaledown_window,
        )
        return result


def autoscaler_settings(definition: api_pb2.FunctionDefinition) -> FunctionAutoscalerSettings:
    from .types import FunctionAutoscalerSettings

    return FunctionAutoscalerSettings(
        min_containers=definition.min_containers,
        max_containers=definition.max_containers or None,
        scaledown_window=int(definition.scaledown_window) or None,
    )
