"""Names of published images (Image.publish / Image.from_name), as Modal writes them:
`[environment/]name[:tag]`, the tag `latest` when none is given. One rule, for the client
and the server."""

from __future__ import annotations

import re

from .exception import InvalidError

_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_FULL = re.compile(rf"(?:(?P<env>{_PART})/)?(?P<name>{_PART})(?::(?P<tag>{_PART}))?")
DEFAULT_TAG = "latest"


def full_image_tag(name: str, environment_name: str | None = None) -> str:
    """`name` with its tag (and `environment_name`'s prefix, when given), or InvalidError."""
    match = _FULL.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise InvalidError(
            f"invalid image name {name!r}: use [environment/]name[:tag] of letters, digits, '.', '-' and '_'"
        )
    env = match["env"]
    if env and environment_name is not None:
        raise InvalidError("environment_name cannot be used when an Image name includes an environment prefix")
    env = env or environment_name or ""
    if env and not re.fullmatch(_PART, env):
        raise InvalidError(f"invalid environment name {env!r}")
    full = f"{match['name']}:{match['tag'] or DEFAULT_TAG}"
    return f"{env}/{full}" if env else full


def is_full_image_tag(tag: str) -> bool:
    match = _FULL.fullmatch(tag)
    return match is not None and match["tag"] is not None
