"""Dockerfile parsing: every supported instruction, and clear errors with line numbers."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from nano_modal.dockerfile import logical_lines, parse_dockerfile, substitute
from nano_modal.exception import InvalidError
from nano_modal.image import Step

DOCKERFILE = """\
# syntax=docker/dockerfile:1
# escape=\\

ARG PY=3.11
ARG UNUSED
FROM --platform=linux/amd64 python:${PY}-slim AS app
ARG PY
ARG MODE=dev
ARG NOTSET
LABEL org.opencontainers.image.title="demo" \\
      version=1
EXPOSE 8000/tcp
ENV APP_HOME=/srv/app DEBUG="yes please" \\
    # a comment inside a continuation is dropped
    EMPTY=
ENV LEGACY the rest of the line
WORKDIR $APP_HOME
RUN --mount=type=cache,target=/var/cache/apt --network=default apt-get update && \\
    apt-get install -y curl
RUN	["python", "-c", "print('exec form')"]
COPY requirements.txt ./
COPY --chown=app:app src/ src
ADD ["data/a.csv", "data/b.csv", "/data/"]
COPY conf/*.toml /etc/demo/
WORKDIR sub
USER app
ENV PATH=/opt/bin:$PATH MODE_COPY=${MODE} UNSET=${NOTSET:-fallback} SET=${MODE:+on}
ENTRYPOINT ["python", "-m", "app"]
CMD --port 8000
"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    for name in ["requirements.txt", "src/app/__init__.py", "data/a.csv", "data/b.csv", "conf/x.toml", "conf/y.toml"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def test_every_instruction(context: Path) -> None:
    base, steps = parse_dockerfile(DOCKERFILE, context, build_args={"MODE": "prod"})
    assert base == "python:3.11-slim"
    c = str(context.resolve())
    assert steps == [
        Step("env", (), (("APP_HOME", "/srv/app"), ("DEBUG", "yes please"), ("EMPTY", ""))),
        Step("env", (), (("LEGACY", "the rest of the line"),)),
        Step("workdir", ("/srv/app",)),
        # ARG values are set for RUN commands, not substituted by the parser (Docker's semantics)
        Step("run_commands", ("export PY=3.11 MODE=prod; apt-get update &&     apt-get install -y curl",)),
        Step("run_commands", (shlex.join(["env", "PY=3.11", "MODE=prod", "python", "-c", "print('exec form')"]),)),
        Step("copy", (f"{c}/requirements.txt", "/srv/app/")),
        Step("copy", (f"{c}/src", "/srv/app/src")),
        Step("copy", (f"{c}/data/a.csv", "/data/")),
        Step("copy", (f"{c}/data/b.csv", "/data/")),
        Step("copy", (f"{c}/conf/x.toml", "/etc/demo/")),
        Step("copy", (f"{c}/conf/y.toml", "/etc/demo/")),
        Step("workdir", ("/srv/app/sub",)),
        # $PATH comes from the base image: left for the builder to expand ("expand")
        Step(
            "env",
            ("expand",),
            (("MODE_COPY", "prod"), ("PATH", "/opt/bin:${PATH}"), ("SET", "on"), ("UNSET", "fallback")),
        ),
        Step("entrypoint", ("python", "-m", "app")),
        Step("cmd", ("/bin/sh", "-c", "--port 8000")),
    ]


def test_defaults_without_build_args(context: Path) -> None:
    base, steps = parse_dockerfile("ARG V=3.12\nFROM python:$V\nARG X=1\nENV Y=$X", context)
    assert base == "python:3.12"
    assert steps == [Step("env", (), (("Y", "1"),))]


def test_escape_directive_and_quotes(context: Path) -> None:
    text = '# escape=`\nFROM img\nRUN echo a `\n    b\nENV A="x \\"y\\" $$" B=\'$HOME\' C=a\\ b'
    _, steps = parse_dockerfile(text, context)
    assert steps[0] == Step("run_commands", ("echo a     b",))
    assert steps[1] == Step("env", (), (("A", 'x "y" $$'), ("B", "$HOME"), ("C", "a b")))


def test_logical_lines_numbers() -> None:
    text = "# escape=\\\n\nFROM a\n# c\nRUN x \\\n  y\n\nCMD z\n"
    assert logical_lines(text) == [(3, "FROM a"), (5, "RUN x   y"), (8, "CMD z")]


def test_substitute() -> None:
    env = {"A": "1", "E": ""}
    assert substitute("$A ${A}x ${E:-d} ${Q:+no} '$A' \\$A", env, split=True) == ["1", "1x", "d", "", "$A", "$A"]
    with pytest.raises(ValueError, match="unterminated"):
        substitute('"open', env, split=True)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("FROM a\nRUN x\nHEALTHCHECK CMD true", 3, "HEALTHCHECK is not supported"),
        ("FROM a\n\nONBUILD RUN x", 3, "ONBUILD is not supported"),
        ("FROM a AS one\nRUN x\nFROM b", 3, "multi-stage builds"),
        ("FROM a\nCOPY --from=build /x /y", 2, "COPY --from"),
        ("FROM a\nRUN --mount=type=secret,id=tok cat /run/secrets/tok", 2, "--mount=type=secret,id=tok is not"),
        ("FROM a\nRUN --privileged x", 2, "--privileged flag is not supported"),
        ("FROM a\nADD https://example.com/x.tgz /x", 2, "ADD of a URL"),
        ("FROM a\nADD archive.tar.gz /x", 2, "ADD of an archive"),
        ("FROM a\nCOPY missing.txt /x", 2, "'missing.txt' not found in the build context"),
        ("FROM a\nCOPY ../outside /x", 2, "outside the build context"),
        ("FROM a\nCOPY a.txt b.txt /dir", 2, "destination ending in '/'"),
        ("FROM a\nCOPY a.txt", 2, "at least one source"),
        ("FROM a\nFROBNICATE x", 2, "unknown instruction 'FROBNICATE'"),
        ("RUN x\nFROM a", 1, "RUN before FROM"),
        ("FROM a\nENV A=1 B", 2, "KEY=value pairs"),
        ('FROM a\nENV A="open', 2, "unterminated"),
        ("FROM a\nRUN <<EOF\necho\nEOF", 2, "heredoc"),
        ("FROM scratch", 1, "FROM scratch"),
        ("# escape=x\nFROM a", 1, "escape must be"),
        ('FROM a\nSHELL ["bash", "-c"]', 2, "SHELL is not supported"),
    ],
)
def test_errors_name_instruction_and_line(context: Path, text: str, line: int, message: str) -> None:
    (context / "a.txt").write_text("a")
    (context / "b.txt").write_text("b")
    (context / "archive.tar.gz").write_bytes(b"")
    (context.parent / "outside").write_text("secret")
    with pytest.raises(InvalidError, match=f"Dockerfile line {line}: .*{message}"):
        parse_dockerfile(text, context)


def test_no_from(context: Path) -> None:
    with pytest.raises(InvalidError, match="no FROM"):
        parse_dockerfile("# only a comment\nARG X=1\n", context)


def test_dockerignore(context: Path) -> None:
    (context / ".dockerignore").write_text("# build junk\n**/*.pyc\n/conf/y.toml\nsrc/app/cache\n.git\n")
    (context / "src/app/cache").mkdir()
    text = "FROM a\nCOPY . /all/\nCOPY src /s\nCOPY conf/*.toml /c/\n"
    _, steps = parse_dockerfile(text, context)
    c = str(context.resolve())
    every = ["*.pyc", "**/*.pyc", "conf/y.toml", "src/app/cache", ".git"]
    assert steps == [
        Step("copy", (c, "/all/"), (("ignore", json.dumps(every)),)),
        Step("copy", (f"{c}/src", "/s"), (("ignore", json.dumps(["*.pyc", "app/cache", ".git"])),)),
        Step("copy", (f"{c}/conf/x.toml", "/c/")),  # y.toml is excluded
    ]
    with pytest.raises(InvalidError, match=r"line 2: .*'conf/y.toml' not found .*excluded by its .dockerignore"):
        parse_dockerfile("FROM a\nCOPY conf/y.toml /y", context)
    (context / ".dockerignore").write_text("*\n!keep\n")
    with pytest.raises(InvalidError, match=r"\.dockerignore line 2: exception patterns"):
        parse_dockerfile("FROM a", context)
