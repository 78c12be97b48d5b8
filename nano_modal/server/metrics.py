"""Prometheus gauges of the platform, read from the control plane's state at scrape time
(dashboard.py serves them at /_/metrics). Its own module: prometheus_client (~50 ms of
imports) loads at the first scrape, not at every server start."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .control import ControlPlane


def platform_registry(
    control: ControlPlane, pass_seconds: Sequence[float] = (), grpc_calls: Mapping[str, int] | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_PlatformCollector(control, pass_seconds, {} if grpc_calls is None else grpc_calls))
    return registry


class _PlatformCollector(Collector):
    """Gauges read from the control plane's state at scrape time (nothing is counted twice)."""

    def __init__(self, control: ControlPlane, pass_seconds: Sequence[float], grpc_calls: Mapping[str, int]) -> None:
        self.control = control
        self.pass_seconds = pass_seconds
        self.grpc_calls = grpc_calls

    def collect(self) -> Iterable[Metric]:
        apps = GaugeMetricFamily("nano_modal_apps", "Apps by state", labels=["state"])
        for state, n in Counter(a.state for a in self.control.apps.values()).items():
            apps.add_metric([state], n)
        queued = GaugeMetricFamily(
            "nano_modal_queued_inputs", "Inputs waiting for a container", labels=["app", "function"]
        )
        containers = GaugeMetricFamily(
            "nano_modal_containers", "Live containers by state", labels=["app", "function", "state"]
        )
        for fn in self.control.functions.values():
            if fn.retired:
                continue
            app = self.control.apps.get(fn.app_id)
            if app is None or not app.live:
                continue
            queued.add_metric([app.name, fn.name], len(fn.queue))
            for state, n in Counter(c.state.value for c in self.control.live_containers(fn)).items():
                containers.add_metric([app.name, fn.name, state], n)
        workers = GaugeMetricFamily("nano_modal_workers", "Registered workers", labels=["alive"])
        for alive, n in Counter(w.alive for w in self.control.workers.values()).items():
            workers.add_metric([str(alive).lower()], n)
        cpu = GaugeMetricFamily("nano_modal_worker_cpu_reserved", "Cores reserved by containers", labels=["worker"])
        for w in self.control.workers.values():
            if w.alive:
                cpu.add_metric([w.worker_id], self.control.containers.reserved(w.worker_id)[0])
        calls = GaugeMetricFamily("nano_modal_calls_in_memory", "Calls the server keeps in memory")
        calls.add_metric([], len(self.control.calls))
        known = GaugeMetricFamily("nano_modal_containers_known", "Containers in memory, exited ones not yet forgotten")
        known.add_metric([], len(self.control.containers))
        passes = GaugeMetricFamily(
            "nano_modal_scheduler_pass_seconds", "Duration of the recent scheduler passes", labels=["stat"]
        )
        recent = list(self.pass_seconds)
        if recent:
            passes.add_metric(["mean"], sum(recent) / len(recent))
            passes.add_metric(["max"], max(recent))
        frozen = GaugeMetricFamily(
            "nano_modal_server_frozen_objects", "Objects of the server's start-up that its garbage collector skips"
        )
        frozen.add_metric([], gc.get_freeze_count())
        rpcs = CounterMetricFamily("nano_modal_grpc_calls", "gRPC calls received, by method", labels=["method"])
        for method, n in list(self.grpc_calls.items()):
            rpcs.add_metric([method], n)
        yield from (apps, queued, containers, workers, cpu, calls, known, passes, frozen, rpcs)
