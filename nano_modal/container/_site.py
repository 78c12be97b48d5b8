"""What `site` does at start-up, with the .pth hooks run later: after the SDK's imports,
before the user's code.

The function entrypoint runs `python -S` (worker/base.py ENTRYPOINT_ARGS) and calls
setup() first. Python's own `site` adds the site-packages directories to sys.path and also
runs the `import ...` lines of every .pth file there: on this machine a finder for an
editable install, a CA-bundle patch and setuptools' distutils shim, which pull in pathlib,
importlib.resources, tempfile, certifi... That was ~37 ms of a 47 ms `python -c pass`
natively and ~250 ms under gVisor, where every file read goes through its gofer.

setup() adds the same directories in the same order (user site, then site-packages, with
the path lines of their .pth files), sets the same builtins (exit, quit, help...) and keeps
the `import` lines. finish() runs them, then sitecustomize and usercustomize, as site would
have: the entrypoint calls it before it loads the user's code, which therefore sees the
same interpreter as with `site`. Meanwhile the SDK has imported what it needs without
them (and what they import in common, pathlib and the like, is then loaded already).

Only the standard library is used here, and only modules `python -S` has loaded already
(site's own module is cheap without its main()).
"""

from __future__ import annotations

import os
import site
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

_pending: list[tuple[str, str]] | None = None  # (.pth file, an `import` line); None: nothing deferred

# gRPC's fork support (on in grpcio's wheels) runs its handlers in every child forked beside the
# SDK's gRPC threads, and 1 child in 40-60 died of SIGABRT before its exec: a user's
# `subprocess.run(..., preexec_fn=...)` in a function failed at random. The SDK's gRPC, imported
# between setup() and finish(), reads this variable then; the user's code sees it as it was.
GRPC_FORK_SUPPORT_ENV = "GRPC_ENABLE_FORK_SUPPORT"
_fork_support_set = False  # setup() set it (finish() takes it away again)


def setup() -> None:
    """Under `python -S`, at once: sys.path and builtins as site would leave them."""
    global _pending, _fork_support_set
    if GRPC_FORK_SUPPORT_ENV not in os.environ and "grpc" not in sys.modules:
        os.environ[GRPC_FORK_SUPPORT_ENV] = "false"
        _fork_support_set = True
    hooks: list[tuple[str, str]] = []

    def add_site_packages(known_paths: set[str], prefixes: Iterable[str] | None = None) -> set[str]:
        for sitedir in site.getsitepackages(list(prefixes) if prefixes is not None else None):
            if os.path.isdir(sitedir):
                _add_dir(sitedir, known_paths, hooks)
        return known_paths

    # What is on sys.path already ('' for -c stays as it is: site runs before Python adds it).
    known = {site.makepath(p)[1] for p in sys.path}
    # site.venv() sets a venv's prefix and adds its site-packages through site.addsitepackages,
    # which would run their hooks: it calls ours instead for that.
    addsitepackages = site.addsitepackages
    site.addsitepackages = add_site_packages
    try:
        known = site.venv(known) or known
    finally:
        site.addsitepackages = addsitepackages
    if site.ENABLE_USER_SITE is None:
        site.ENABLE_USER_SITE = site.check_enableusersite()
    if site.ENABLE_USER_SITE and os.path.isdir(user_site := site.getusersitepackages()):
        _add_dir(user_site, known, hooks)
    add_site_packages(known)
    site.setquit()
    site.setcopyright()
    site.sethelper()
    _pending = hooks


def finish() -> None:
    """The rest of site's start-up: the .pth hooks, sitecustomize, usercustomize. Once, and
    only after setup() (under a normal start, site has done all this already)."""
    global _pending, _fork_support_set
    if _fork_support_set:
        os.environ.pop(GRPC_FORK_SUPPORT_ENV, None)
        _fork_support_set = False
    hooks, _pending = _pending, None
    if hooks is None:
        return
    for pth, line in hooks:
        try:
            exec(line)
        except Exception as exc:  # site reports and goes on likewise
            print(f"Error processing line of {pth}: {exc!r}", file=sys.stderr)
    site.execsitecustomize()
    if site.ENABLE_USER_SITE:
        site.execusercustomize()


def _add_dir(sitedir: str, known: set[str], hooks: list[tuple[str, str]]) -> None:
    """site.addsitedir, with the `import` lines of its .pth files kept in `hooks`."""
    sitedir, case = site.makepath(sitedir)
    if case not in known:
        sys.path.append(sitedir)
        known.add(case)
    try:
        names = sorted(n for n in os.listdir(sitedir) if n.endswith(".pth") and not n.startswith("."))
    except OSError:
        return
    for name in names:
        pth = os.path.join(sitedir, name)
        try:
            with open(pth, encoding="locale") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            if line.startswith(("import ", "import\t")):
                hooks.append((pth, line))
                continue
            path, case = site.makepath(sitedir, line.rstrip())
            if case not in known and os.path.exists(path):
                sys.path.append(path)
                known.add(case)
