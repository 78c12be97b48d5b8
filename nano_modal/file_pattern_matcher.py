"""`FilePatternMatcher`: .dockerignore-style patterns, for `Image.add_local_dir(ignore=...)`.

    FilePatternMatcher("**/*.txt", "!keep.txt")   # every .txt file except ./keep.txt
    ~FilePatternMatcher("**/*.py")                # everything but Python files

A path (relative to the directory being added) is ignored when the last pattern that matches
it, or one of its parent directories, is not a `!` exception. `*` and `?` stay within one
path segment, `**` spans any number of them, `[...]` is a character class.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .exception import InvalidError


def _compile(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")  # zero or more whole directories
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


class FilePatternMatcher:
    """Decides which files to leave out: called with a relative path, True means ignore it."""

    patterns: list[str]  # as given, normalized

    def __init__(self, *pattern: str) -> None:
        self.patterns = []
        self._rules: list[tuple[re.Pattern[str], bool]] = []  # (regex, is an exception)
        for raw in pattern:
            if not isinstance(raw, str):
                raise InvalidError(f"FilePatternMatcher: patterns are strings, got {raw!r}")
            text = raw.strip()
            if not text:
                continue
            exception = text.startswith("!")
            body = os.path.normpath(text[1:].strip() if exception else text).lstrip("/")
            self.patterns.append(("!" if exception else "") + body)
            self._rules.append((_compile(body), exception))
        self._inverted = False

    @classmethod
    def from_file(cls, file_path: str | Path) -> FilePatternMatcher:
        """The patterns of a .dockerignore-style file (one a line; `#` starts a comment line)."""
        path = Path(file_path).expanduser()
        if not path.is_file():
            raise InvalidError(f"FilePatternMatcher.from_file: {str(file_path)!r} is not a file")
        lines = [line.strip() for line in path.read_text().splitlines()]
        return cls(*[line for line in lines if line and not line.startswith("#")])

    def __invert__(self) -> FilePatternMatcher:
        inverted = FilePatternMatcher(*self.patterns)
        inverted._inverted = not self._inverted
        return inverted

    def can_prune_directories(self) -> bool:
        """Whether a matched directory can be skipped whole: only when no `!` exception could
        bring back something inside it (and the matcher is not inverted)."""
        return not self._inverted and not any(exception for _, exception in self._rules)

    def __call__(self, file_path: Path) -> bool:
        return self._matches(Path(file_path).as_posix()) != self._inverted

    def _matches(self, path: str) -> bool:
        parts = os.path.normpath(path).lstrip("/").split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]  # the path and its parents
        ignored = False
        for regex, exception in self._rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                ignored = not exception
        return ignored

    def __repr__(self) -> str:
        return f"{'~' if self._inverted else ''}FilePatternMatcher({', '.join(map(repr, self.patterns))})"
