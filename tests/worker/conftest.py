"""Fixtures of the worker's tests: Python environments made the way users make them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import REPO

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: no grpc, no protobuf, nothing of ours


def _same_minor(python: str) -> bool:
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    return out.stdout.strip() == str(tuple(sys.version_info[:2]))


def bare_venv(root: Path) -> Path:
    """A symlinked venv of the system's Python, nothing installed in it; its bin/python."""
    if not os.path.exists(SYSTEM_PYTHON) or not _same_minor(SYSTEM_PYTHON):
        pytest.skip(f"needs {SYSTEM_PYTHON} of Python {sys.version_info.major}.{sys.version_info.minor}")
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    assert python.is_symlink()  # the layout that broke: the venv is found only through this path
    return python


def site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip())


def _install_ours(site: Path) -> None:
    """Our dependencies into `site` (hard links to this interpreter's, instead of a download)
    and this checkout on its path through a .pth file."""
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name.startswith(("__editable__", "nano_modal")):
            continue  # an editable install of another checkout: this one goes in by .pth below
        if entry.is_dir():
            shutil.copytree(entry, site / entry.name, copy_function=os.link, symlinks=True)
        else:
            os.link(entry, site / entry.name)
    (site / "nano_modal_checkout.pth").write_text(f"{REPO}\n")


@pytest.fixture(scope="session")
def user_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a new user has after `python3 -m venv venv && venv/bin/pip install -e .`: the
    dependencies inside the venv (hard links to this interpreter's, instead of a download)
    and the checkout on its path through a .pth file. Its bin/python."""
    python = bare_venv(tmp_path_factory.mktemp("user") / "venv")
    site = site_packages(python)
    _install_ours(site)
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without PYTHONPATH (the venv's .pth finds the checkout) nor NANO_MODAL_*."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("NANO_MODAL_")}
    env["NANO_MODAL_LOCAL_IDLE_EXIT"] = os.environ.get("NANO_MODAL_LOCAL_IDLE_EXIT", "10")
    return {**env, **extra}


@pytest.fixture(scope="session")
def user_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """What a user has after `pip install --user`: the system's Python, our dependencies in its
    user site (under PYTHONUSERBASE; hard links to this interpreter's, instead of a download)
    and the checkout on its path through a .pth there. The Python and its environment."""
    if not os.path.exists(SYSTEM_PYTHON) or not _same_minor(SYSTEM_PYTHON):
        pytest.skip(f"needs {SYSTEM_PYTHON} of Python {sys.version_info.major}.{sys.version_info.minor}")
    env = clean_env(PYTHONUSERBASE=str(tmp_path_factory.mktemp("userbase")))
    code = "import site; print(site.getusersitepackages())"
    found = subprocess.run([SYSTEM_PYTHON, "-c", code], env=env, capture_output=True, text=True, check=True)
    site = Path(found.stdout.strip())
    site.mkdir(parents=True)
    _install_ours(site)
    return Path(SYSTEM_PYTHON), env
