"""`nano-modal server` and `nano-modal worker`: every option says what it does, and its default
when it has one."""

from __future__ import annotations

import argparse

import pytest

from nano_modal.server.main import build_parser as server_parser
from nano_modal.worker.main import build_parser as worker_parser


@pytest.mark.parametrize("parser", [server_parser(), worker_parser()], ids=["server", "worker"])
def test_every_option_has_help_and_shows_its_default(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{action.option_strings} has no help text"
        if action.default not in (None, False, [], ""):
            assert "default" in action.help, f"{action.option_strings}: its default {action.default!r} is not shown"
