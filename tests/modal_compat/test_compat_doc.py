"""docs/MODAL_CLIENT.md names exactly the ModalClient methods the server serves."""

from __future__ import annotations

import inspect
import re

from nano_modal.server.modal_compat.service import ModalService
from tests.conftest import REPO

_METHOD = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z0-9]*)+\b")  # CamelCase words: method names


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def test_served_table_matches_the_service() -> None:
    text = (REPO / "docs" / "MODAL_CLIENT.md").read_text()
    table_rows = [
        line.split("|")[1]
        for line in _section(text, "## Methods served", "## Methods not served").splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    documented = {name for row in table_rows[1:] for name in _METHOD.findall(row)}
    served = {name for name, member in inspect.getmembers(ModalService) if name[0].isupper() and callable(member)}
    assert documented == served


def test_no_served_method_is_listed_as_not_served() -> None:
    text = (REPO / "docs" / "MODAL_CLIENT.md").read_text()
    not_served = set(_METHOD.findall(text[text.index("## Methods not served") :]))
    served = {name for name, member in inspect.getmembers(ModalService) if name[0].isupper() and callable(member)}
    assert not (not_served & served)
