"""Web endpoint URLs, one rule for the SDK (printing them) and the gateway (routing them).

Two forms, as on Modal: with a wildcard web domain (`nano-modal server --web-domain
nano.localhost`; browsers and curl resolve every `*.localhost` name to loopback with no DNS
set-up) each endpoint owns a host, `http://<label>.<web domain>:<port>/`; without one, or
for any other host, it lives under a path, `http://<gateway>/<app ref>/<endpoint>/`.

An endpoint of a workspace other than the default one carries its workspace, as Modal's
`<workspace>--<label>` hosts do: in its host label and in the app reference of its path,
so that two workspaces' apps of the same name never share an address.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import config

WORKSPACE_SEPARATOR = "--"  # workspace names cannot hold it (server/workspaces.py), app names may
_NOT_IN_A_LABEL = re.compile(r"[^a-z0-9-]+")


def _in_workspace(ref: str, workspace: str) -> str:
    return ref if workspace in ("", config.DEFAULT_WORKSPACE) else f"{workspace}{WORKSPACE_SEPARATOR}{ref}"


def qualified_app_ref(app_ref: str, workspace: str) -> str:
    """The app as a path names it: an app id as it is (ids are global), a name with its
    workspace unless that is the default one."""
    return app_ref if app_ref.startswith("ap-") else _in_workspace(app_ref, workspace)


def split_app_ref(app_ref: str) -> tuple[str, str]:
    """(workspace, app name or id) of a path's app reference (the inverse of qualified_app_ref)."""
    workspace, sep, name = app_ref.partition(WORKSPACE_SEPARATOR)
    if sep and workspace and name:
        return workspace, name
    return config.DEFAULT_WORKSPACE, app_ref


def host_label(app_ref: str, endpoint_name: str, custom_label: str = "", workspace: str = "") -> str:
    """`<app>-<function>` (a class method: `<app>-<class>-<method>`), or the endpoint's own
    `label=`, after `<workspace>--` outside the default workspace; lower case, with anything a
    DNS label cannot hold ('_', '.') turned into '-'."""
    raw = _in_workspace(custom_label or f"{app_ref}-{endpoint_name}", workspace)
    return _NOT_IN_A_LABEL.sub("-", raw.lower()).strip("-")


def host_url(web_base_url: str, web_domain: str, label: str) -> str:
    """The endpoint's URL on the gateway's scheme and port, under the web domain."""
    parts = urlsplit(web_base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{label}.{web_domain}{port}/"


def endpoint_url(
    web_base_url: str, web_domain: str, workspace: str, app_ref: str, endpoint_name: str, custom_label: str = ""
) -> str:
    """The URL an endpoint answers at: its own host when the server has a web domain, else its path."""
    if web_domain:
        return host_url(web_base_url, web_domain, host_label(app_ref, endpoint_name, custom_label, workspace))
    return f"{web_base_url}/{qualified_app_ref(app_ref, workspace)}/{endpoint_name}/"


def label_of_host(host_header: str, web_domain: str) -> str | None:
    """The label a Host header names under the web domain (None: not a host-form request)."""
    host = host_header.lower()
    if host.startswith("["):  # an IPv6 literal is never a name under the domain
        return None
    host = host.rsplit(":", 1)[0] if ":" in host else host
    suffix = "." + web_domain.lower().strip(".")
    if not web_domain or not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    return label if label and "." not in label else None
