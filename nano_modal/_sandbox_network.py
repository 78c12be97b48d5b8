"""Sandbox.create's network options: what nano-modal enforces, and the one-line refusal of
what it cannot (a security option is never accepted and then ignored).

Enforced: `block_network`, `encrypted_ports` and `inbound_cidr_allowlist` (checked by the
server against each tunnel request's address: server/sandbox_ports.py). Refused when given:
outbound allowlists (a worker's containers share one outbound policy, the operator's
`--allow-net`, with no per-sandbox allowlist yet), and `runtime=` (the worker's operator
chooses the runtime: a sandbox cannot ask for a stronger one than its worker has).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .exception import InvalidError

OUTBOUND_REFUSED = (
    "a sandbox's outbound network is its worker's policy (nano-modal worker --allow-net); "
    "per-sandbox allowlists are not enforced yet: use block_network=True, or leave it unset"
)


def refuse_unenforced(
    *,
    outbound_cidr_allowlist: Sequence[str] | None,
    outbound_domain_allowlist: Sequence[str] | None,
    cidr_allowlist: Sequence[str] | None,
    runtime: str | None,
) -> None:
    """Refuse, in one line each, the options nano-modal could not enforce."""
    for name, value in (
        ("outbound_cidr_allowlist", outbound_cidr_allowlist),
        ("outbound_domain_allowlist", outbound_domain_allowlist),
        ("cidr_allowlist", cidr_allowlist),
    ):
        if value is not None:
            raise InvalidError(f"Sandbox.create({name}=...): {OUTBOUND_REFUSED}")
    if runtime is not None:
        raise InvalidError(
            f"Sandbox.create(runtime={runtime!r}): the runtime is the worker's (nano-modal worker --runtime); "
            "a sandbox runs on the one its worker has"
        )


def inbound_networks(allowlist: Sequence[str] | None) -> list[str]:
    """inbound_cidr_allowlist, checked here for a one-line error (the server checks again)."""
    if allowlist is None:
        return []
    if isinstance(allowlist, str) or not allowlist:
        raise InvalidError("inbound_cidr_allowlist must be a non-empty list of CIDRs (None: anyone with the URL)")
    for cidr in allowlist:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise InvalidError(f"inbound_cidr_allowlist: {cidr!r} is not a network in CIDR form") from None
    return list(allowlist)
