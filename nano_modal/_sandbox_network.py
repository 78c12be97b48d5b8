"""Sandbox.create's network options: what nano-modal enforces, and the one-line refusal of
what it cannot (a security option is never accepted and then ignored).

Enforced: `block_network`, `encrypted_ports`, `inbound_cidr_allowlist` (checked by the server
against each tunnel request's address: server/sandbox_ports.py) and `outbound_cidr_allowlist`
(routes in the sandbox's network namespace, inside the worker's own policy: worker/network.py;
only workers whose runtime isolates the network take such a sandbox). Refused when given:
`outbound_domain_allowlist` (containers route by address), and `runtime=` (the worker's
operator chooses the runtime: a sandbox cannot ask for a stronger one than its worker has).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .exception import InvalidError

# An allowlist entry inside 0.0.0.0/8, which every worker denies: an allowlist that opens nothing.
OPENS_NOTHING = "0.0.0.0/32"
DOMAINS_REFUSED = (
    "an outbound allowlist of domain names is not enforced: nano-modal's containers route by address; "
    "use outbound_cidr_allowlist"
)


def refuse_unenforced(*, outbound_domain_allowlist: Sequence[str] | None, runtime: str | None) -> None:
    """Refuse, in one line each, the options nano-modal could not enforce."""
    if outbound_domain_allowlist is not None:
        raise InvalidError(f"Sandbox.create(outbound_domain_allowlist=...): {DOMAINS_REFUSED}")
    if runtime is not None:
        raise InvalidError(
            f"Sandbox.create(runtime={runtime!r}): the runtime is the worker's (nano-modal worker --runtime); "
            "a sandbox runs on the one its worker has"
        )


def outbound_networks(allowlist: Sequence[str] | None, deprecated: Sequence[str] | None) -> list[str]:
    """outbound_cidr_allowlist (or Modal's older name, cidr_allowlist) as IPv4 CIDRs."""
    if allowlist is not None and deprecated is not None:
        raise InvalidError("Cannot specify both `cidr_allowlist` and `outbound_cidr_allowlist`.")
    allowlist = allowlist if allowlist is not None else deprecated
    if allowlist is None:
        return []
    if isinstance(allowlist, str):
        raise InvalidError("outbound_cidr_allowlist must be a list of CIDRs, not one string")
    if not allowlist:  # nothing allowed (inbound tunnels still work)
        return [OPENS_NOTHING]
    networks = []
    for cidr in allowlist:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise InvalidError(f"outbound_cidr_allowlist: {cidr!r} is not a network in CIDR form") from None
        if network.version != 4:
            raise InvalidError(f"outbound_cidr_allowlist: {cidr!r}: sandboxes have no IPv6 route out")
        networks.append(str(network))
    return networks


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
