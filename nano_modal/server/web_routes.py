"""Which function a web request is for: the gateway's routing, apart from its HTTP handling.

A request names an endpoint by path (`/<app ref>/<endpoint>/`) or by host label (under the
web domain; `_web_host.py` holds the rule both use). A class endpoint's query string picks
the instance (one pool per parameter set, each a stored function). A `requires_proxy_auth`
endpoint opens to a proxy token of its own workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from .. import config
from .._web_host import host_label, qualified_app_ref, split_app_ref
from ..proto import api_pb2
from ..serialization import serialize
from .control import ControlPlane, Invalid, NotFound, bound_definition
from .control_base import bind_key
from .deployments import Deployments
from .foreign_web import ForeignWeb
from .state import App, FunctionRuntime
from .store import ProxyTokenRow

WEB_METHOD = config.WEB_METHOD
PROXY_TOKENS_KEPT = 10_000  # proxy tokens kept in memory (each ~200 bytes); past it the oldest goes
# A class defined with the modal client is its service function "<Class>.*" (Modal's name for
# it); its methods' endpoints are still `<Class>.<method>`, as for nano-modal's classes.
MODAL_CLASS_SUFFIX = ".*"
# Parameter sets of one class endpoint that callers without a proxy token may create (each is
# a stored function and containers of its own); authorized callers may create more.
ENV_MAX_PUBLIC_BOUND = "NANO_MODAL_WEB_MAX_PUBLIC_INSTANCES"
MAX_PUBLIC_BOUND_PER_CLASS = int(os.environ.get(ENV_MAX_PUBLIC_BOUND) or 64)


def parse_class_parameters(definition: api_pb2.FunctionDefinition, query: dict[str, str]) -> dict[str, Any]:
    """A class endpoint's instance parameters, typed, from the query string (one pool per set)."""
    params: dict[str, Any] = {}
    for spec in definition.class_parameters:
        if spec.name not in query:
            if spec.required:
                raise Invalid(f"missing query parameter {spec.name!r} ({spec.type})")
            continue
        raw = query[spec.name]
        try:
            if spec.type == "int":
                params[spec.name] = int(raw)
            elif spec.type == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                params[spec.name] = raw.lower() in ("true", "1")
            elif spec.type == "bytes":
                params[spec.name] = raw.encode()
            else:
                params[spec.name] = raw
        except ValueError:
            raise Invalid(f"query parameter {spec.name!r} must be {spec.type}, got {raw!r}") from None
    return params


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TooManyInstances(Exception):
    """A caller without a proxy token asked for one parameter set too many (429)."""


@dataclass(frozen=True)
class Endpoint:
    fn: FunctionRuntime  # the function, or the class whose method it is
    method_name: str  # the input's method name
    web: api_pb2.WebEndpoint  # that endpoint's settings


class WebRoutes:
    """Endpoints by path and by host label, class instances by query, proxy tokens by workspace."""

    def __init__(self, control: ControlPlane, deployments: Deployments) -> None:
        self.control = control
        self.deployments = deployments
        # Host label -> (app ref, endpoint name): found by a scan of every live app's functions,
        # kept while it still resolves, so a request costs one lookup like the path form's.
        self._labels: dict[str, tuple[str, str]] = {}
        # Proxy tokens seen valid, by key: never deleted from the store, so a cached one stays
        # right, and a request through a proxy-auth endpoint does not query the store on the
        # event loop. Unknown keys are not cached (a caller could fill the map with them).
        self._proxy_tokens: dict[str, ProxyTokenRow] = {}

    def target_of_label(self, label: str) -> tuple[str, str] | None:
        """(app ref, endpoint name) a host label names, or None: from the cache while it resolves."""
        target = self._labels.get(label)
        if target is None or not self.exists(*target):
            target = self.by_label(label)
            if target is not None:  # only labels of real endpoints: a bounded map
                self._labels[label] = target
        return target

    def exists(self, app_ref: str, name: str) -> bool:
        try:
            self.route(app_ref, name)
        except NotFound:
            return False
        return True

    def by_label(self, label: str) -> tuple[str, str] | None:
        """(app ref, endpoint name) of the live endpoint with this host label. A deployed app
        wins over ephemeral runs of its name, and among those the newest run, as in the path form."""
        found: list[tuple[bool, str, str]] = []
        for app in self.control.apps.values():
            if not app.live:
                continue
            for fn in self.control.app_functions(app.app_id):
                endpoints = [(fn.name, fn.definition.web)] if fn.definition.web.kind else []
                class_name = fn.name.removesuffix(MODAL_CLASS_SUFFIX)
                endpoints += [(f"{class_name}.{m.name}", m.web) for m in fn.definition.methods if m.web.kind]
                for name, web in endpoints:
                    # An ephemeral run answers by its id (what get_web_url says) and by its name
                    # (what `nano-modal serve` prints, stable across reloads).
                    for app_ref in {app.app_id, app.name} - {""}:
                        if host_label(app_ref, name, web.label, app.workspace) == label:
                            found.append((app.state == "deployed", qualified_app_ref(app_ref, app.workspace), name))
        if not found:
            return None
        deployed = [f for f in found if f[0]]
        _, app_ref, name = (deployed or found)[-1]
        return app_ref, name

    def route(self, app_ref: str, name: str) -> Endpoint:
        """The endpoint at /<app>/<name>/: nothing is created to answer this (see `bind`)."""
        if "." not in name:
            fn = self.function(app_ref, name)
            return Endpoint(fn, WEB_METHOD, fn.definition.web)
        cls_name, method = name.split(".", 1)
        try:
            cls = self.function(app_ref, cls_name, web_required=False)
        except NotFound as missing:
            try:
                cls = self.function(app_ref, cls_name + MODAL_CLASS_SUFFIX, web_required=False)
            except NotFound:
                raise missing from None
        for m in cls.definition.methods:
            if m.name == method and m.web.kind:
                return Endpoint(cls, f"{WEB_METHOD}.{method}", m.web)
        raise NotFound(f"class {cls_name} has no web endpoint method {method!r}")

    def bind(self, route: Endpoint, query: dict[str, str], authorized: bool, foreign: ForeignWeb | None = None) -> str:
        """The function id to call: a class endpoint's instance for the query's parameters
        (`foreign`: the protocol of a class defined with another SDK, which reads them).
        Each new parameter set is a stored function and a container pool of its own, so a
        caller without a proxy token may create at most MAX_PUBLIC_BOUND_PER_CLASS per class."""
        if not route.fn.definition.is_class:
            return route.fn.function_id
        if foreign is not None:
            foreign_params = foreign.class_parameters(route.fn, query)
            if foreign_params is None:
                return route.fn.function_id
            bound_params = foreign_params
        else:
            params = parse_class_parameters(route.fn.definition, query)
            if not params:
                return route.fn.function_id
            bound_params = serialize(tuple(sorted(params.items())))
        options = api_pb2.FunctionDefinition()
        options.CopyFrom(route.fn.definition)
        key = bind_key(bound_definition(route.fn.definition, options, bound_params, route.fn.function_id))
        existing = self.control.bound.get(key)
        if existing is not None:
            return existing
        if not authorized:
            siblings = sum(
                1 for f in self.control.functions.values() if f.definition.parent_function_id == route.fn.function_id
            )
            if siblings >= MAX_PUBLIC_BOUND_PER_CLASS:
                raise TooManyInstances(
                    f"{route.fn.name} has {siblings} parameter sets already; new ones need a proxy token"
                )
        return self.control.bind_function(route.fn.function_id, bound_params, options)

    def function(self, app_ref: str, name: str, web_required: bool = True) -> FunctionRuntime:
        if app_ref.startswith("ap-"):  # ids are global: no workspace before them (qualified_app_ref)
            app = self.control.app(app_ref)
            if not app.live:
                raise NotFound(f"app {app_ref} is stopped")
        else:
            app = self.app_by_ref(app_ref)
        fn = self.control.function_by_name(app.app_id, name)
        if fn is None or (web_required and not fn.definition.web.kind):
            raise NotFound(f"app {app.name} has no web endpoint {name!r}")
        return fn

    def app_by_ref(self, app_ref: str) -> App:
        """The app a path names: `<workspace>--<app>`, or a default workspace's app, whose name
        may hold '--' too (its own workspace's app of the same address wins)."""
        workspace, app_name = split_app_ref(app_ref)
        candidates = [(workspace, app_name)]
        if workspace != config.DEFAULT_WORKSPACE:
            candidates.append((config.DEFAULT_WORKSPACE, app_ref))
        missing: NotFound | None = None
        for workspace, app_name in candidates:
            try:
                return self.deployments.lookup(app_name, workspace=workspace)
            except NotFound as exc:
                missing = missing or exc
            # `nano-modal serve` URLs: the newest live run of an ephemeral app with that name.
            runs = [a for a in self.control.apps.values() if (a.name, a.workspace) == (app_name, workspace) and a.live]
            if runs:
                return runs[-1]
        assert missing is not None
        raise missing

    def authorized(self, request: HTTPConnection, fn: FunctionRuntime) -> bool:
        """A proxy token of the endpoint's own workspace: another workspace's opens nothing here."""
        key = request.headers.get("modal-key", "")
        secret = request.headers.get("modal-secret", "")
        stored = self._proxy_tokens.get(key)
        if stored is None and key:
            stored = self.control.store.proxy_token(key)
            if stored is not None:
                if len(self._proxy_tokens) >= PROXY_TOKENS_KEPT:
                    self._proxy_tokens.pop(next(iter(self._proxy_tokens)))
                self._proxy_tokens[key] = stored
        return (
            stored is not None
            and hmac.compare_digest(stored.secret_hash, hash_secret(secret))
            and stored.workspace == self.control.app(fn.app_id).workspace
        )
