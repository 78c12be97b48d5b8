"""Host-form web URLs: each endpoint at `http://<label>.<web domain>:<port>/`, as on Modal.

The server is given a wildcard domain (`nano-modal server --web-domain nano.localhost`;
browsers and curl resolve every `*.localhost` name to loopback with no DNS set-up). One
rule, used by the SDK to print URLs and by the gateway to route a request by its Host
header, turns an endpoint into its label.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_NOT_IN_A_LABEL = re.compile(r"[^a-z0-9-]+")


def host_label(app_ref: str, endpoint_name: str, custom_label: str = "") -> str:
    """`<app>-<function>` (a class method: `<app>-<class>-<method>`), or the endpoint's own
    `label=`; lower case, with anything a DNS label cannot hold ('_', '.') turned into '-'."""
    raw = custom_label or f"{app_ref}-{endpoint_name}"
    return _NOT_IN_A_LABEL.sub("-", raw.lower()).strip("-")


def host_url(web_base_url: str, web_domain: str, label: str) -> str:
    """The endpoint's URL on the gateway's scheme and port, under the web domain."""
    parts = urlsplit(web_base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{label}.{web_domain}{port}/"


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
