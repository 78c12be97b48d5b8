"""Ship the app's own source to containers: a deterministic tar.gz, content-addressed."""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

_SKIP_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_cache: dict[str, tuple[bytes, str]] = {}  # top-level module -> (archive, import root)


def script_module_name() -> str | None:
    """The name a script run as `python app.py` is imported by in containers ("app"), or None
    when __main__ has no .py file (a REPL, a notebook, `python -c`).

    Modal imports the script's file in the container, as a module: its module-level code runs
    there (`with image.imports(): ...`), its functions find their sibling functions, and its
    `if __name__ == "__main__":` block does not run."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if main is None or not file or not str(file).endswith(".py") or getattr(main, "__spec__", None) is not None:
        return None  # __spec__ is set when run as `python -m pkg.mod`: that module travels by value
    return Path(str(file)).stem


def source_archive(module_name: str) -> bytes | None:
    """The tar.gz holding `module_name`'s top-level package (or single file), or None if it has no file."""
    top = module_name.split(".")[0]
    if top in _cache:
        return _cache[top][0]
    module = sys.modules.get(top)
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    package_dirs = list(getattr(module, "__path__", []))
    if file is None and not package_dirs:
        return None
    if package_dirs:  # a package, regular or namespace (no __init__.py): ship its whole directory
        package = Path(file).resolve().parent if file else Path(package_dirs[0]).resolve()
        root = package.parent
        files = sorted(p for p in package.rglob("*") if p.is_file() and not _skipped(p, package))
    else:
        path = Path(str(file)).resolve()
        root = path.parent
        files = [path]
    buffer = io.BytesIO()
    # Fixed mtimes and order: the same source always gives the same bytes, so it uploads once.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for file_path in files:
            info = tarfile.TarInfo(str(file_path.relative_to(root)))
            data = file_path.read_bytes()
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    archive = buffer.getvalue()
    _cache[top] = (archive, str(root))
    return archive


def _skipped(path: Path, base: Path) -> bool:
    return any(
        part in _SKIP_DIRS or part.startswith(".") for part in path.relative_to(base).parts[:-1]
    ) or path.suffix in (".pyc", ".pyo")
