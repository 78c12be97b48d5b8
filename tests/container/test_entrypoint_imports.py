"""The function container's start-up: what it imports, and site's work done by container/_site.py.

Every module a container imports at start-up is paid at every cold start (docs/BENCHMARKS.md,
"Issue 3: function containers"), so the plain-function path must not pull in the client
SDK, the CLI or the server's dependencies, nor run site's .pth hooks before the user's code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

from nano_modal.worker.base import ENTRYPOINT_ARGS, SDK_ROOT

SETUP = "from nano_modal.container import _site; _site.setup()"
# Not needed to run a plain function: loaded on first use, if ever.
NOT_AT_START = [
    "nano_modal.app",
    "nano_modal.client",
    "nano_modal.cls",
    "nano_modal.functions",
    "nano_modal.image",
    "nano_modal._volume_sync",
    "nano_modal.proto.api_pb2_grpc",
    "nano_modal.container.web",
    "croniter",
    "tomllib",
    "pathlib",
    "tarfile",
    "rich",
    "typer",
    "sqlalchemy",
    "fastapi",
    # what this machine's .pth hooks import: they run later (_site.finish)
    "certifi",
    "_distutils_hack",
]


def run(python: str, *args: str, cwd: Path | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SDK_ROOT}
    proc = subprocess.run([python, *args], capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_entrypoint_args_skip_site_and_set_it_up() -> None:
    assert ENTRYPOINT_ARGS[0] == "-S"
    assert SETUP in ENTRYPOINT_ARGS[2]


def test_plain_function_path_imports_little(tmp_path: Path) -> None:
    code = f"{SETUP}; import nano_modal.container.entrypoint, sys, json; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(run(sys.executable, "-S", "-c", code, cwd=tmp_path)))
    assert "nano_modal.container.runner" in loaded  # the path was really imported
    assert sorted(loaded & set(NOT_AT_START)) == []


def test_lazy_public_names() -> None:
    code = "import nano_modal, sys; assert 'nano_modal.app' not in sys.modules; print(nano_modal.App.__module__)"
    assert run(sys.executable, "-c", code).strip() == "nano_modal.app"
    out = run(sys.executable, "-c", "import nano_modal; print(sorted(set(nano_modal.__all__) - set(dir(nano_modal))))")
    assert out.strip() == "[]"
    argv = [sys.executable, "-c", "import nano_modal; nano_modal.Nope"]
    missing = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert "has no attribute 'Nope'" in missing.stderr


def test_site_setup_then_finish_is_what_site_does(tmp_path: Path) -> None:
    """A venv whose site-packages has a .pth with a path line and an import hook: under
    `python -S`, setup() adds the path but holds the hook back until finish(); after it,
    sys.path and the builtins are those of a normal start."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = str(env_dir / "bin" / "python")
    site_packages = Path(run(python, "-c", "import site; print(site.getsitepackages()[0])").strip())
    extra = tmp_path / "extra"
    extra.mkdir()
    (site_packages / "zz_test.pth").write_text(f"# a comment\n{extra}\nimport os; os.environ['HOOK_RAN'] = '1'\n")
    state = (
        "import sys, os, builtins, json; print(json.dumps([sys.path, sys.prefix, os.environ.get('HOOK_RAN'),"
        " [k for k in ('exit', 'quit', 'help', 'copyright') if hasattr(builtins, k)]]))"
    )
    normal = json.loads(run(python, "-c", state))
    before = json.loads(run(python, "-S", "-c", f"{SETUP}; {state}"))
    after = json.loads(run(python, "-S", "-c", f"{SETUP}; _site.finish(); {state}"))
    assert str(extra) in normal[0] and normal[2] == "1"
    assert before[0] == normal[0] and before[1] == normal[1] == str(env_dir) and before[3] == normal[3]
    assert before[2] is None  # the hook waits for finish()
    assert after == normal
