"""A follower serves everything the active server does: clients and workers that know only the
follower's address use every kind of call through it (unary, server streams, client streams,
the sandbox relay's bidirectional stream, the fast lane)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_server, start_worker, stop
from tests.helpers import run_script, wait_for

SCRIPT = """
import nano_modal

app = nano_modal.App("through-a-follower")


@app.function()
def square(x: int) -> int:
    print("squaring", x)
    return x * x


@app.function()
def count(n: int):
    yield from range(n)


@app.function()
def size(data: bytes) -> int:
    return len(data)


@app.function()
def boom() -> None:
    raise ValueError("raised remotely")


if __name__ == "__main__":
    with app.run():
        print("remote", square.remote(7))
        print("map", sum(square.map(range(100))))
        print("gen", list(count.remote_gen(4)))
        print("blob", size.remote(b"x" * (3 << 20)))  # over the inline limit: a blob upload stream
        print("spawn", square.spawn(9).get(timeout=60))
        try:
            boom.remote()
        except ValueError as exc:
            print("error", exc)
        d = nano_modal.Dict.from_name("follower-dict", create_if_missing=True)
        d["k"] = 1
        print("dict", d["k"])
        sb = nano_modal.Sandbox.create(app=app)
        p = sb.exec("echo", "from a sandbox")
        print("sandbox", p.stdout.read().strip(), p.wait())
        sb.terminate()
"""


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """An active server and a follower on its store, each with a state directory of its own."""
    token = secrets.token_urlsafe(16)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    active, url_a = start_server(tmp_path / "a", token)
    follower, url_b = start_server(tmp_path / "b", token, "--store", f"sqlite:///{tmp_path / 'a' / 'state.db'}")
    try:
        assert "follower on" in (tmp_path / "b" / "server.log").read_text()
        yield token, url_a, url_b
    finally:
        stop(follower)
        stop(active)


def test_clients_and_workers_that_know_only_a_follower_use_every_kind_of_call(
    tmp_path: Path, servers: tuple[str, str, str]
) -> None:
    token, _, url_b = servers
    worker = start_worker(url_b, token, tmp_path / "worker.log", "--runtime", "process")
    try:
        assert wait_for(lambda: "registered as" in (tmp_path / "worker.log").read_text(), 60)
        env = {**os.environ, "NANO_MODAL_SERVER_URL": url_b, "NANO_MODAL_TOKEN": token}
        env["NANO_MODAL_HOME"] = str(tmp_path / "home")
        done = run_script(tmp_path, SCRIPT, env=env, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        for expected in (
            "remote 49",
            f"map {sum(i * i for i in range(100))}",
            "gen [0, 1, 2, 3]",
            f"blob {3 << 20}",
            "spawn 81",
            "error raised remotely",
            "dict 1",
            "sandbox from a sandbox 0",
        ):
            assert expected in lines, (expected, done.stdout, done.stderr)
        assert "squaring 7" in done.stdout + done.stderr  # logs stream back through the follower
    finally:
        stop(worker)


def test_the_follower_checks_nothing_itself_and_passes_on_the_active_servers_refusal(
    tmp_path: Path, servers: tuple[str, str, str]
) -> None:
    _, _, url_b = servers
    env = {**os.environ, "NANO_MODAL_SERVER_URL": url_b, "NANO_MODAL_TOKEN": "not-the-token"}
    env["NANO_MODAL_HOME"] = str(tmp_path / "home")
    put = "import nano_modal; nano_modal.Dict.from_name('x', create_if_missing=True)['k'] = 1"
    refused = run_script(tmp_path, put, env=env)
    assert refused.returncode != 0
    assert "invalid or missing token" in refused.stderr, refused.stderr
