"""The gRPC face of Function.stats, Function.metrics, App.stats and FunctionCall.get_call_graph
(a mixin of service.Service); the numbers come from stats.py, function_metrics.py and call_graph.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc.aio

from ..proto import api_pb2
from . import call_graph, function_metrics, stats
from .control import ControlPlane
from .sandboxes import SandboxPlane

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class StatsRpcs:
    control: ControlPlane
    sandboxes: SandboxPlane

    async def _guard(self, context: Context, fn: Callable[[], T]) -> T:
        raise NotImplementedError  # service.py

    async def FunctionGetTimeRangeStats(
        self, request: api_pb2.FunctionTimeRangeStatsRequest, context: Context
    ) -> api_pb2.FunctionTimeRangeStats:
        return await self._guard(context, lambda: stats.function_stats(self.control, request))

    async def FunctionGetMetrics(
        self, request: api_pb2.FunctionMetricsRequest, context: Context
    ) -> api_pb2.FunctionMetricsResponse:
        return await self._guard(context, lambda: function_metrics.function_metrics(self.control, request))

    async def AppGetTimeRangeStats(
        self, request: api_pb2.AppTimeRangeStatsRequest, context: Context
    ) -> api_pb2.AppTimeRangeStats:
        def app_stats() -> api_pb2.AppTimeRangeStats:
            found = stats.app_stats(self.control, request)
            mine = [sb for sb in self.sandboxes.sandboxes.values() if sb.app_id == request.app_id]
            found.sandboxes_live = sum(1 for sb in mine if not sb.done and sb.created_at < request.until)
            # Sandboxes are kept in memory a while after they end: those the server still knows of.
            found.sandboxes_finished = sum(
                1 for sb in mine if sb.done and request.since <= sb.created_at < request.until
            )
            return found

        return await self._guard(context, app_stats)

    async def FunctionGetCallGraph(
        self, request: api_pb2.FunctionCallGraphRequest, context: Context
    ) -> api_pb2.FunctionCallGraph:
        return await self._guard(context, lambda: call_graph.call_graph(self.control, request.call_id))
