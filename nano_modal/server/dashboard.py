"""The dashboard and metrics, served by the HTTP gateway under `/_/`.

    http://HOST:HTTP_PORT/_/           apps and workers (sign in with the admin token)
    http://HOST:HTTP_PORT/_/apps/ID    an app's functions, containers, deployments and logs
    http://HOST:HTTP_PORT/_/metrics    Prometheus metrics (Authorization: Bearer <admin token>)

Read-only on purpose: changing things stays with the CLI and the SDK, which go through the
token-checked gRPC API. The session cookie is an HMAC of the admin token, so it is valid
exactly as long as the token is, and the token itself never travels back to the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .control import ControlPlane, NotFound
from .state import Container, ContainerState, FunctionRuntime

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from starlette.templating import Jinja2Templates

PREFIX = "/_"  # app names may not start with "_", so no web endpoint can live here
COOKIE = "nano_modal_session"
LOG_TAIL = 200  # log lines shown on an app's page


@cache
def _templates() -> Jinja2Templates:
    """Loaded on the first page shown (jinja2: ~25 ms of every server start otherwise)."""
    from starlette.templating import Jinja2Templates

    return Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class Dashboard:
    def __init__(
        self,
        control: ControlPlane,
        admin_token: str,
        pass_seconds: Sequence[float] = (),
        grpc_calls: Mapping[str, int] | None = None,
    ) -> None:
        self.control = control
        self.pass_seconds = pass_seconds  # the scheduler's recent pass durations (scheduler.py), for the metrics
        # gRPC calls received, per method (grpc_auth.TokenGate), for the metrics: the live count, not a copy
        self.grpc_calls = {} if grpc_calls is None else grpc_calls
        self._session = hmac.new(admin_token.encode(), b"dashboard-session", hashlib.sha256).hexdigest()
        self._token = admin_token
        self._registry: CollectorRegistry | None = None  # made at the first scrape (metrics.py)

    @property
    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{PREFIX}/", self.overview),
            Route(f"{PREFIX}/apps/{{app_id}}", self.app_page),
            Route(f"{PREFIX}/login", self.login, methods=["GET", "POST"]),
            Route(f"{PREFIX}/metrics", self.metrics),
        ]

    def _signed_in(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if bearer and hmac.compare_digest(bearer, self._token):
            return True
        return hmac.compare_digest(request.cookies.get(COOKIE, ""), self._session)

    async def login(self, request: Request) -> Response:
        error = ""
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            if hmac.compare_digest(form.get("token", [""])[0].strip(), self._token):
                response = RedirectResponse(f"{PREFIX}/", status_code=303)
                response.set_cookie(COOKIE, self._session, httponly=True, samesite="strict", path=f"{PREFIX}/")
                return response
            error = "That is not this server's admin token."
        status = 401 if error else 200
        return _templates().TemplateResponse(request, "login.html", {"error": error}, status_code=status)

    async def overview(self, request: Request) -> Response:
        if not self._signed_in(request):
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        apps = sorted(self.control.apps.values(), key=lambda a: (not a.live, a.name))
        now = time.monotonic()
        return _templates().TemplateResponse(
            request,
            "overview.html",
            {
                "apps": [self._app_summary(a.app_id) for a in apps],
                "workers": [
                    {
                        "id": w.worker_id,
                        "host": w.hostname,
                        "alive": w.alive,
                        "cpu": f"{self.control.containers.reserved(w.worker_id)[0]:g} / {w.cpu:g}",
                        "memory": f"{self.control.containers.reserved(w.worker_id)[1]:,} / {w.memory_mb:,} MiB",
                        "containers": sum(1 for c in self.control.containers.on_worker(w.worker_id) if c.live),
                        "seen": _ago(now - w.last_seen),
                    }
                    for w in self.control.workers.values()
                ],
            },
        )

    async def app_page(self, request: Request) -> Response:
        if not self._signed_in(request):
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        try:
            app = self.control.app(request.path_params["app_id"])
        except NotFound as exc:
            return PlainTextResponse(f"404 Not Found: {exc}\n", status_code=404)
        now = time.monotonic()
        functions = self.control.app_functions(app.app_id)
        containers = [c for fn in functions for c in self.control.live_containers(fn)]
        names = {fn.function_id: fn.name for fn in functions}
        logs = self.control.store.tail_logs(app.app_id, LOG_TAIL)
        return _templates().TemplateResponse(
            request,
            "app.html",
            {
                "app": self._app_summary(app.app_id),
                "functions": [_function_row(fn, self.control.live_containers(fn)) for fn in functions],
                "containers": [
                    {
                        "id": c.container_id,
                        "function": names.get(c.function_id, c.function_id),
                        "state": c.state.value,
                        "worker": c.worker_id,
                        "age": _ago(now - c.created_at),
                        "served": c.served,
                        "running": len(c.held),
                    }
                    for c in containers
                ],
                "deployments": [
                    {"version": d.version, "tag": d.tag, "at": _clock(d.created_at), "rollback_of": d.rollback_of}
                    for d in reversed(self.control.store.deployments(app.app_id))
                ],
                "logs": [
                    {"at": _clock(line.timestamp), "source": line.function_name or "system", "text": line.data}
                    for line in logs
                ],
            },
        )

    async def metrics(self, request: Request) -> Response:
        if not self._signed_in(request):
            return PlainTextResponse("401 Unauthorized: send Authorization: Bearer <admin token>\n", 401)
        from prometheus_client import generate_latest

        from .metrics import platform_registry

        if self._registry is None:
            self._registry = platform_registry(self.control, self.pass_seconds, self.grpc_calls)
        return Response(generate_latest(self._registry), media_type="text/plain; version=0.0.4")

    def _app_summary(self, app_id: str) -> dict[str, Any]:
        app = self.control.app(app_id)
        functions = self.control.app_functions(app_id)
        return {
            "id": app.app_id,
            "name": app.name,
            "state": app.state,
            "version": app.version,
            "functions": len(functions),
            "containers": sum(len(self.control.live_containers(fn)) for fn in functions),
            "queued": sum(len(fn.queue) for fn in functions),
        }


def _every(months: int, seconds: float) -> str:
    parts = ([f"{months} months"] if months else []) + ([f"{seconds:g}s"] if seconds else [])
    return f"every {' '.join(parts)}" if parts else ""


def _function_row(fn: FunctionRuntime, live: list[Container]) -> dict[str, Any]:
    definition = fn.definition
    kind = "class" if definition.is_class else "function"
    if definition.web.kind:
        kind = definition.web.kind
    states = Counter(c.state for c in live)
    every = definition.schedule.period_seconds
    return {
        "name": fn.name,
        "kind": kind,
        "queued": len(fn.queue),
        "running": states[ContainerState.RUNNING],
        "starting": states[ContainerState.STARTING],
        "limits": f"{definition.min_containers}–{definition.max_containers or '∞'}",
        "schedule": definition.schedule.cron or _every(definition.schedule.period_months, every),
    }


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _clock(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
