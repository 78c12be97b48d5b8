"""The rule for app tags (App(tags=), App.set_tags), checked by the client and again by the server."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Modal's rule: tag keys and values are 1-63 letters, digits, '-', '.' or '_'.
_TAG = re.compile(r"[A-Za-z0-9._-]{1,63}")
MAX_TAGS = 64  # per app: tags are metadata, and the server keeps them in the app's row


def tag_problem(tags: Mapping[str, str]) -> str | None:
    """What is wrong with `tags`, in one line; None when nothing is."""
    rule = "tags may contain only letters, digits, '-', '.' or '_', and be 63 characters or less"
    if len(tags) > MAX_TAGS:
        return f"an app holds at most {MAX_TAGS} tags, not {len(tags)}"
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG.fullmatch(key):
            return f"invalid tag key {key!r}: {rule}"
        if not isinstance(value, str) or not _TAG.fullmatch(value):
            return f"invalid tag value {value!r} (of {key!r}): {rule}"
    return None
