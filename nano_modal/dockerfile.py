"""Parse a Dockerfile into a base image reference and image steps (`Image.from_dockerfile`).

One build stage. Supported instructions:

- `FROM image [AS name]` (`--platform` ignored: the worker's own platform is used).
- `RUN` in shell form or exec form (`["cmd", "arg"]`); ARG values reach it as environment variables.
  `--mount=type=cache` and `--network` are ignored (what a cache mount would hold stays in the layer).
- `COPY` / `ADD` of local files and directories under the build context (wildcards allowed;
  `--chown`, `--chmod` and `--link` are ignored: files keep their modes and belong to root).
- `ENV` (`K=V ...` and legacy `K value`), `ARG` (defaults, `build_args` overrides, ARGs before FROM
  for the FROM line), `WORKDIR`, `ENTRYPOINT`, `CMD`.
- `USER`, `LABEL`, `EXPOSE` and `MAINTAINER` are accepted and ignored (steps and containers run as root).
- Line continuations, comments, and the `escape` parser directive (`syntax` and `check` are ignored).
- `.dockerignore` in the context: excluded paths are not copied (its `*` also crosses `/`; `!` lines are errors).
  A directory's copy step carries the patterns that apply inside it as option `ignore` (a JSON list).

Anything else (a second FROM, `COPY --from`, other `RUN --mount` types, ADD of URLs or of tar archives,
heredocs, SHELL, HEALTHCHECK, ONBUILD, VOLUME, STOPSIGNAL) raises `InvalidError` with the line number.

>>> from pathlib import Path
>>> base, steps = parse_dockerfile("FROM python:3.11-slim\\nRUN pip install numpy", Path("."))
>>> base, steps[0].kind, steps[0].args
('python:3.11-slim', 'run_commands', ('pip install numpy',))
"""

from __future__ import annotations

import fnmatch
import glob
import json
import posixpath
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from nano_modal.exception import InvalidError

if TYPE_CHECKING:
    from nano_modal.image import Step

IGNORED = {"USER", "LABEL", "EXPOSE", "MAINTAINER"}
UNSUPPORTED = {
    "SHELL": "SHELL is not supported (RUN uses /bin/sh -c)",
    "HEALTHCHECK": "HEALTHCHECK is not supported",
    "ONBUILD": "ONBUILD is not supported",
    "VOLUME": "VOLUME is not supported (use nano_modal.Volume)",
    "STOPSIGNAL": "STOPSIGNAL is not supported",
}
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst")
CONTINUED = "(the image the commands continue)"  # the base of parse_commands: there is no FROM
VARIABLE = re.compile(r"\$(?:\{(\w+)(?:(:[-+])([^}]*))?\}|(\w+))")


class ParsedDockerfile(NamedTuple):
    base: str  # the FROM image reference
    steps: list[Step]


def parse_dockerfile(
    text: str, context_dir: Path, build_args: dict[str, str] | None = None, ignore: Sequence[str] = ()
) -> ParsedDockerfile:
    """The base image and the steps of a one-stage Dockerfile; COPY sources resolve in `context_dir`
    (less `ignore`'s patterns, relative to it, as .dockerignore's)."""
    parser = _Parser(context_dir, build_args or {})
    parser.ignore += list(ignore)
    return parser.parse(text)


def parse_commands(
    text: str, context_dir: Path, build_args: dict[str, str] | None = None, ignore: Sequence[str] = ()
) -> list[Step]:
    """The steps of Dockerfile instructions that continue an image (`Image.dockerfile_commands`):
    the same instructions as a Dockerfile's, without FROM. `ignore`: patterns (relative to the
    context, as .dockerignore's) of files COPY leaves out."""
    parser = _Parser(context_dir, build_args or {})
    parser.ignore += list(ignore)
    for line, instruction in logical_lines(text):
        if instruction.split(maxsplit=1)[0].upper() == "FROM":
            raise InvalidError(f"dockerfile_commands line {line}: FROM starts another image; use Image.from_dockerfile")
    parser.base = CONTINUED
    return parser.parse(text).steps


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction text) pairs: directives read, comments dropped, continuations joined."""
    lines = text.splitlines()
    escape = "\\"
    start = 0
    for i, line in enumerate(lines):  # parser directives: `# key=value` lines at the very top
        m = re.fullmatch(r"\s*#\s*(\w+)\s*=\s*(.*?)\s*", line)
        if not m:
            break
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise InvalidError(f"Dockerfile line {i + 1}: escape must be \\ or `, not {m.group(2)!r}")
            escape = m.group(2)
        start = i + 1
    result: list[tuple[int, str]] = []
    pending: list[str] = []
    first = 0
    for number, line in enumerate(lines[start:], start + 1):
        if re.match(r"\s*#", line) or (not pending and not line.strip()):
            continue  # comments are dropped even inside a continued instruction
        if not pending:
            first = number
        stripped = line.rstrip()
        if stripped.endswith(escape):
            pending.append(stripped[:-1])
            continue
        pending.append(line)
        result.append((first, "".join(pending).strip()))
        pending = []
    if pending:
        result.append((first, "".join(pending).strip()))
    return result


def substitute(text: str, env: dict[str, str], *, split: bool, keep_unknown: bool = False) -> list[str]:
    """Docker's word processing: quotes, backslash escapes and `$VAR`/`${VAR:-default}`/`${VAR:+alt}`.

    `split=True` gives the whitespace-separated words; otherwise one word with spaces kept.
    `keep_unknown=True` leaves `$NAME` of a variable not in `env` as `${NAME}` (for the builder to
    expand with the base image's environment, e.g. `ENV PATH=/opt/bin:$PATH`).
    """
    words: list[str] = []
    word: list[str] = []
    in_word = False
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote != "'" and c == "$":
            m = VARIABLE.match(text, i)
            if m:
                name = m.group(1) or m.group(4)
                value = env.get(name, "${" + name + "}" if keep_unknown and not m.group(2) else "")
                if m.group(2) == ":-" and not value:
                    value = substitute(m.group(3), env, split=False)[0]
                elif m.group(2) == ":+":
                    value = substitute(m.group(3), env, split=False)[0] if value else ""
                word.append(value)
                in_word = True
                i = m.end()
                continue
        # a backslash escapes anything outside quotes, only " \ $ inside double quotes
        if c == "\\" and quote != "'" and i + 1 < len(text) and (quote == "" or text[i + 1] in '"\\$'):
            word.append(text[i + 1])
            in_word, i = True, i + 2
            continue
        if quote:
            if c == quote:
                quote = ""
            else:
                word.append(c)
        elif c in "'\"":
            quote, in_word = c, True
        elif c.isspace() and split:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            word.append(c)
            in_word = True
        i += 1
    if quote:
        raise ValueError(f"unterminated {quote} quote")
    if in_word or not split:
        words.append("".join(word))
    return words


def exec_form(args: str) -> list[str] | None:
    """The argv of a JSON exec form (`["a", "b"]`), or None for shell form (as Docker decides)."""
    if not args.startswith("["):
        return None
    try:
        argv = json.loads(args)
    except ValueError:
        return None
    return argv if isinstance(argv, list) and all(isinstance(a, str) for a in argv) else None


def read_dockerignore(context: Path) -> list[str]:
    """The patterns of `context/.dockerignore`, relative to the context (fnmatch style)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    patterns: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise InvalidError(f"{path} line {number}: exception patterns ('!') are not supported")
        pattern = posixpath.normpath(line.lstrip("/"))
        if pattern.startswith("**/"):  # also at the top (fnmatch's * already crosses '/')
            patterns.append(pattern[3:])
        patterns.append(pattern)
    return patterns


class _Parser:
    def __init__(self, context_dir: Path, build_args: dict[str, str]) -> None:
        self.context = context_dir.resolve()
        self.build_args = build_args
        self.global_args: dict[str, str | None] = {}  # ARGs before FROM
        self.args: dict[str, str | None] = {}  # ARGs of the stage
        self.env: dict[str, str] = {}  # ENV so far (wins over an ARG of the same name)
        self.base = ""
        self.workdir = "/"
        self.steps: list[Step] = []
        self.line = 0
        self.ignore = read_dockerignore(self.context)

    def fail(self, message: str) -> InvalidError:
        return InvalidError(f"Dockerfile line {self.line}: {message}")

    def parse(self, text: str) -> ParsedDockerfile:
        for self.line, instruction in logical_lines(text):
            keyword, rest = [*instruction.split(maxsplit=1), ""][:2]
            keyword, rest = keyword.upper(), rest.strip()
            if keyword != "FROM" and keyword != "ARG" and not self.base:
                raise self.fail(f"{keyword} before FROM (a Dockerfile starts with FROM, after optional ARGs)")
            if keyword in IGNORED:
                continue
            if keyword in UNSUPPORTED:
                raise self.fail(UNSUPPORTED[keyword])
            handler = getattr(self, f"do_{keyword.lower()}", None)
            if handler is None:
                raise self.fail(f"unknown instruction {keyword!r}")
            try:
                handler(rest)
            except ValueError as e:  # from substitute(): quoting errors
                raise self.fail(f"{keyword}: {e}") from e
        if not self.base:
            raise InvalidError("Dockerfile has no FROM instruction")
        return ParsedDockerfile(self.base, self.steps)

    def variables(self) -> dict[str, str]:
        scope = self.args if self.base else self.global_args  # before FROM only global ARGs exist
        return {**{k: v for k, v in scope.items() if v is not None}, **self.env}

    def words(self, rest: str) -> list[str]:
        return substitute(rest, self.variables(), split=True)

    def flags(self, rest: str, allowed: set[str]) -> tuple[list[tuple[str, str]], str]:
        """Leading `--name[=value]` flags of an instruction (in order, repeats kept), and what follows them."""
        flags: list[tuple[str, str]] = []
        while m := re.match(r"--([\w-]+)(?:=(\S*))?\s*", rest):
            if m.group(1) not in allowed:
                raise self.fail(f"the --{m.group(1)} flag is not supported here")
            flags.append((m.group(1), m.group(2) or ""))
            rest = rest[m.end() :]
        return flags, rest

    def step(self, kind: str, args: tuple[str, ...] = (), options: tuple[tuple[str, str], ...] = ()) -> None:
        from nano_modal.image import Step

        self.steps.append(Step(kind, args, options))

    def do_from(self, rest: str) -> None:
        if self.base:
            raise self.fail("multi-stage builds (a second FROM) are not supported")
        _, rest = self.flags(rest, {"platform"})
        words = self.words(rest)
        if len(words) == 3 and words[1].upper() == "AS":
            words = words[:1]
        if len(words) != 1 or not words[0]:
            raise self.fail(f"FROM takes an image and an optional 'AS name', not {rest!r}")
        if words[0] == "scratch":
            raise self.fail("FROM scratch is not supported: the image needs a Python interpreter")
        self.base = words[0]

    def do_arg(self, rest: str) -> None:
        target = self.args if self.base else self.global_args
        for word in self.words(rest):
            name, eq, default = word.partition("=")
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise self.fail(f"ARG name {name!r} is not valid")
            if name in self.build_args:
                target[name] = self.build_args[name]
            elif eq:
                target[name] = default
            else:  # `ARG NAME` after FROM takes the value of a global `ARG NAME=default`
                target[name] = self.global_args.get(name) if self.base else None

    def do_env(self, rest: str) -> None:
        words = substitute(rest, self.variables(), split=True, keep_unknown=True)
        if not words:
            raise self.fail("ENV needs KEY=value")
        if "=" not in words[0]:  # legacy `ENV KEY value with spaces`
            key, _, value = rest.partition(" ")
            pairs = {key: substitute(value.strip(), self.variables(), split=False, keep_unknown=True)[0]}
        else:
            if not all("=" in w for w in words):
                raise self.fail(f"ENV takes KEY=value pairs, not {rest!r}")
            pairs = dict(w.split("=", 1) for w in words)
        for key, value in pairs.items():
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", key):
                raise self.fail(f"ENV name {key!r} is not valid")
            self.env[key] = value
        # "expand": values hold ${NAME} of variables only the base image knows (PATH...); the builder fills them in
        expand = ("expand",) if any("${" in v for v in pairs.values()) else ()
        self.step("env", expand, tuple(sorted(pairs.items())))

    def do_workdir(self, rest: str) -> None:
        path = substitute(rest, self.variables(), split=False)[0]
        if not path:
            raise self.fail("WORKDIR needs a path")
        self.workdir = posixpath.normpath(posixpath.join(self.workdir, path))
        self.step("workdir", (self.workdir,))

    def do_run(self, rest: str) -> None:
        flags, rest = self.flags(rest, {"mount", "network"})
        for name, value in flags:
            # a cache mount only speeds up rebuilds: without it the cache lands in the layer, same result
            if name == "mount" and "type=cache" not in value.split(","):
                raise self.fail(f"RUN --mount={value} is not supported (only type=cache, which is ignored)")
        if re.match(r"<<-?\s*['\"]?\w+", rest):
            raise self.fail("RUN with a heredoc is not supported")
        if not rest:
            raise self.fail("RUN needs a command")
        argv = exec_form(rest)
        # ARG values are environment variables of RUN commands (ENV ones are set by their own steps)
        args = {k: v for k, v in self.args.items() if v is not None and k not in self.env}
        if argv is not None:
            command = shlex.join(["env", *(f"{k}={v}" for k, v in args.items()), *argv] if args else argv)
        else:
            assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in args.items())
            command = f"export {assignments}; {rest}" if args else rest
        self.step("run_commands", (command,))

    def do_cmd(self, rest: str) -> None:
        self.step("cmd", tuple(self.argv(rest)))

    def do_entrypoint(self, rest: str) -> None:
        self.step("entrypoint", tuple(self.argv(rest)))

    def argv(self, rest: str) -> list[str]:
        argv = exec_form(rest)
        return argv if argv is not None else ["/bin/sh", "-c", rest]

    def do_copy(self, rest: str) -> None:
        self.copy("COPY", rest)

    def do_add(self, rest: str) -> None:
        self.copy("ADD", rest)

    def copy(self, keyword: str, rest: str) -> None:
        flags, rest = self.flags(rest, {"chown", "chmod", "link", "from", "checksum", "keep-git-dir"})
        if "from" in dict(flags):
            raise self.fail(f"{keyword} --from (multi-stage builds) is not supported")
        argv = exec_form(rest)
        words = [substitute(a, self.variables(), split=False)[0] for a in argv] if argv else self.words(rest)
        if len(words) < 2:
            raise self.fail(f"{keyword} needs at least one source and a destination")
        *sources, dest = words
        is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
        dest = posixpath.normpath(posixpath.join(self.workdir, dest))
        dest += "/" if is_dir and dest != "/" else ""
        matched: list[str] = []
        for source in sources:
            if re.match(r"^[a-z]+://", source) or source.startswith("git@"):
                raise self.fail(f"{keyword} of a URL ({source}) is not supported; use RUN curl or wget")
            found = [p for p in sorted(glob.glob(str(self.context / source.lstrip("/")))) if not self.ignored(p)]
            if not found:
                raise self.fail(
                    f"{keyword} source {source!r} not found in the build context {self.context}"
                    + (" (or excluded by its .dockerignore)" if self.ignore else "")
                )
            for path in found:
                resolved = Path(path).resolve()
                if not resolved.is_relative_to(self.context):
                    raise self.fail(f"{keyword} source {source!r} is outside the build context {self.context}")
                if keyword == "ADD" and resolved.is_file() and resolved.name.endswith(ARCHIVE_SUFFIXES):
                    raise self.fail(
                        f"ADD of an archive ({source}) is not supported (no auto-extract); use COPY + RUN tar"
                    )
                matched.append(str(resolved))
        if len(matched) > 1 and not dest.endswith("/"):
            raise self.fail(f"{keyword} with several sources needs a destination ending in '/', not {dest!r}")
        for path in matched:
            ignore = self.ignore_under(Path(path)) if Path(path).is_dir() else []
            self.step("copy", (path, dest), (("ignore", json.dumps(ignore)),) if ignore else ())

    def ignored(self, path: str) -> bool:
        """Whether .dockerignore leaves this file or directory out of the build context."""
        rel = Path(path).resolve().relative_to(self.context).as_posix() if self.ignore else ""
        return rel not in ("", ".") and any(fnmatch.fnmatch(rel, p) for p in self.ignore)

    def ignore_under(self, directory: Path) -> list[str]:
        """The .dockerignore patterns that apply inside `directory`, relative to it (for add_local's ignore)."""
        rel = directory.resolve().relative_to(self.context).as_posix()
        if rel == ".":
            return list(self.ignore)
        prefix = rel + "/"
        return [
            p[len(prefix) :] if p.startswith(prefix) else p for p in self.ignore if p.startswith(prefix) or "/" not in p
        ]
