"""`App.server(...)`: register a class whose @enter starts an HTTP server (see _server.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, cast

from . import config
from ._app_options import function_options
from ._server import (
    DEFAULT_PORT,
    DEFAULT_STARTUP_TIMEOUT,
    Server,
    concurrent_requests,
    server_decorator,
    server_endpoint,
)

if TYPE_CHECKING:
    from .app import App


class ServerRegistration:
    """Mixed into App: its `server` decorator."""

    def server(
        self,
        *,
        image: Any = None,
        env: dict[str, str | None] | None = None,
        secrets: Collection[Any] | None = None,
        gpu: str | list[str] | None = None,
        serialized: bool = False,
        volumes: dict[str | PurePosixPath, Any] | None = None,
        cpu: float | None = None,
        memory: int | None = None,
        ephemeral_disk: int | None = None,
        target_concurrency: float | None = None,
        max_concurrency: int | None = None,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaleup_window: int | None = None,
        scaledown_window: int | None = None,
        startup_timeout: int = DEFAULT_STARTUP_TIMEOUT,
        name: str | None = None,
        port: int = DEFAULT_PORT,
        unauthenticated: bool = False,
        exit_grace_period: int = 0,
        # Modal's cloud only: accepted and ignored with a note (see _porting_options.CLOUD_ONLY)
        h2_enabled: bool = False,
        routing_region: str = "",
        compute_region: str | Sequence[str] | None = None,
        cloud: str | None = None,
        nonpreemptible: bool = False,
        enable_memory_snapshot: bool = False,
        include_source: bool | None = None,
        experimental_options: dict[str, Any] | None = None,
    ) -> Callable[[type], Server]:
        """Register a class whose `@nano_modal.enter()` starts an HTTP server on `port`; the
        gateway serves it at `Server.get_url()`. `unauthenticated=False` (the default, as on
        Modal) asks callers for a proxy token (Modal-Key / Modal-Secret headers). Each container
        takes up to `target_concurrency` (else `max_concurrency`) requests at once before the
        autoscaler starts another."""
        app = cast("App", self)
        web = server_endpoint(port, startup_timeout, unauthenticated)
        options = function_options(
            app,
            "App.server",
            image,
            config.DEFAULT_TIMEOUT,
            None,
            max_containers,
            min_containers or 0,
            scaledown_window,
            None,
            cpu,
            memory,
            serialized,
            list(secrets or []),
            {str(path): volume for path, volume in (volumes or {}).items()},
            False,
            gpu=gpu,
            restrict_modal_access=False,
            renamed={},
            ported={
                "env": env,
                "single_use_containers": False,
                "network_file_systems": None,
                "ephemeral_disk": ephemeral_disk,
                "buffer_containers": buffer_containers,
                "scaleup_window": scaleup_window,
                "exit_grace_period": exit_grace_period or None,
                "h2_enabled": h2_enabled,
                "routing_region": routing_region or None,
                "compute_region": compute_region,
                "cloud": cloud,
                "nonpreemptible": nonpreemptible,
                "enable_memory_snapshot": enable_memory_snapshot,
                "include_source": include_source,
                "experimental_options": experimental_options,
            },
        )
        options.max_concurrent_inputs = concurrent_requests(target_concurrency, max_concurrency)
        return server_decorator(app, options, web, exit_grace_period, name)
