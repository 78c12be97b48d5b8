"""Web endpoints of two workspaces: an app of the same name deployed in the default workspace
and in another answers at addresses of its own (`<workspace>--` before its host label and its
path's app, as on Modal), and a proxy token opens only its own workspace's endpoints.

Real server (with a web domain) and worker processes; deploys and tokens through the CLI."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import REPO, start_server, start_worker, stop

DOMAIN = "nano.localhost"
APP_FILE = REPO / "tests" / "apps" / "workspace_web_app.py"
B = "team-b"


@dataclass
class TwoWorkspaces:
    server_url: str
    operator_token: str  # the server's admin token: the default workspace ("main")
    b_token: str  # workspace B's admin token
    home: Path
    printed: dict[str, list[str]]  # what `deploy` printed, per workspace

    def cli(self, token: str, *args: str, owner: str = "") -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "NANO_MODAL_SERVER_URL": self.server_url,
            "NANO_MODAL_TOKEN": token,
            "NANO_MODAL_HOME": str(self.home),
            "NM_TEST_OWNER": owner,
        }
        return subprocess.run(
            [sys.executable, "-m", "nano_modal", *args], env=env, capture_output=True, text=True, timeout=300
        )

    def gateway(self) -> str:
        """http://host:port of the gateway, from a URL `deploy` printed."""
        parts = urlsplit(self.printed["main"][0])
        return f"http://127.0.0.1:{parts.port}"


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoWorkspaces]:
    state_dir = tmp_path_factory.mktemp("server")
    token = secrets.token_urlsafe(16)
    server, url = start_server(state_dir, token, "--web-domain", DOMAIN)
    worker = start_worker(url, token, state_dir / "worker.log", "--runtime", "process")
    try:
        setup = TwoWorkspaces(url, token, "", tmp_path_factory.mktemp("home"), {})
        made = setup.cli(token, "workspace", "create", B)
        assert made.returncode == 0, made.stderr
        created = setup.cli(token, "token", "create", "--workspace", B)
        assert created.returncode == 0, created.stderr
        setup.b_token = created.stdout.strip().splitlines()[-1]
        for workspace, owner_token in (("main", token), (B, setup.b_token)):
            deployed = setup.cli(owner_token, "deploy", str(APP_FILE), owner=workspace)
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            setup.printed[workspace] = re.findall(r"http://\S+", deployed.stdout)
        yield setup
    finally:
        stop(worker)
        stop(server)


def _get(url: str, **headers: str) -> httpx.Response:
    """GET at loopback, naming `url`'s host in the Host header as a browser would."""
    parts = urlsplit(url)
    local = url.replace(parts.netloc, f"127.0.0.1:{parts.port}", 1)
    return httpx.get(local, headers={"Host": parts.netloc, **headers}, timeout=120)


def test_deploy_prints_each_workspaces_own_hosts(two: TwoWorkspaces) -> None:
    port = urlsplit(two.printed["main"][0]).port
    assert sorted(two.printed["main"]) == [
        f"http://storefront-private.{DOMAIN}:{port}/",
        f"http://storefront-whoami.{DOMAIN}:{port}/",
    ]
    assert sorted(two.printed[B]) == [
        f"http://{B}--storefront-private.{DOMAIN}:{port}/",
        f"http://{B}--storefront-whoami.{DOMAIN}:{port}/",
    ]


def test_the_same_app_name_in_two_workspaces_answers_at_two_addresses(two: TwoWorkspaces) -> None:
    port = urlsplit(two.printed["main"][0]).port
    by_host = {
        ws: _get(f"http://{prefix}storefront-whoami.{DOMAIN}:{port}/") for ws, prefix in (("main", ""), (B, f"{B}--"))
    }
    by_path = {
        ws: httpx.get(f"{two.gateway()}/{ref}/whoami/", timeout=120)
        for ws, ref in (("main", "storefront"), (B, f"{B}--storefront"))
    }
    for answers in (by_host, by_path):
        assert {ws: (r.status_code, r.json()) for ws, r in answers.items()} == {"main": (200, "main"), B: (200, B)}


def test_a_proxy_token_opens_only_its_own_workspaces_endpoints(two: TwoWorkspaces) -> None:
    keys = {}
    for workspace, token in (("main", two.operator_token), (B, two.b_token)):
        made = two.cli(token, "token", "create-proxy")
        assert made.returncode == 0, made.stderr  # a workspace's admin makes its own
        found = dict(re.findall(r"(Modal-Key|Modal-Secret): (\S+)", made.stdout))
        keys[workspace] = {"Modal-Key": found["Modal-Key"], "Modal-Secret": found["Modal-Secret"]}
    port = urlsplit(two.printed["main"][0]).port
    urls = {
        "main": f"http://storefront-private.{DOMAIN}:{port}/",
        B: f"http://{B}--storefront-private.{DOMAIN}:{port}/",
    }
    answers = {(endpoint, holder): _get(urls[endpoint], **keys[holder]) for endpoint in urls for holder in keys}
    assert {k: r.status_code for k, r in answers.items()} == {
        ("main", "main"): 200,
        ("main", B): 401,
        (B, "main"): 401,
        (B, B): 200,
    }
    assert answers[(B, B)].json() == f"private of {B}"
    assert all("private of" not in r.text for k, r in answers.items() if k[0] != k[1])
    no_token = _get(urls[B])
    assert no_token.status_code == 401 and "private of" not in no_token.text
