"""Without the `modal` package the server says it does not serve Modal's protocol, and how to.

Run in a fresh interpreter with `modal_proto` hidden: the suite's venv has the modal-compat
extra installed (scripts/test.sh), as a server that serves Modal's client does."""

from __future__ import annotations

import subprocess
import sys

NO_MODAL = """
import sys
sys.modules["modal_proto"] = None  # as if `pip install nano-modal` without its modal-compat extra
from nano_modal.server.modal_compat import load_protocol
proto, status = load_protocol()
print(proto is None)
print(status)
"""


def test_not_served_without_modal_says_how() -> None:
    run = subprocess.run([sys.executable, "-c", NO_MODAL], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "True",
        "not serving Modal's client protocol: pip install 'nano-modal[modal-compat]'",
    ]
