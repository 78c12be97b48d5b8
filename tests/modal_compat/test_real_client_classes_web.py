"""A class defined with the real client from PyPI serving the web: `modal deploy` of
examples/modal_client_classes_web.py, real HTTP requests to the URLs it prints, then
`Cls.with_options(...)` and `modal app stop` (the class's exit hook) (issue 15)."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.modal_compat.conftest import ModalCluster
from tests.modal_compat.test_real_client import write_app
from tests.modal_compat.test_real_client_web import proxy_token, request

pytestmark = pytest.mark.slow(reason="installs modal from PyPI once; each request may start a container")

# The program users are shown.
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_classes_web.py"
_URL = re.compile(r"http://\S+/([\w.]+)/")


def free_port() -> int:
    """A port for the example's web server: the `process` runtime's containers share the host's network."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
        return port


def deploy_example(cluster: ModalCluster, tmp_path: Path) -> dict[str, str]:
    """The example deployed; the URLs `modal deploy` printed, by endpoint name."""
    write_app(tmp_path, EXAMPLE.read_text().replace("WEB_SERVER_PORT = 8000", f"WEB_SERVER_PORT = {free_port()}"))
    deploy = cluster.modal("deploy", "app.py", cwd=tmp_path)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return {m.group(1): m.group(0) for m in _URL.finditer(deploy.stdout) if "/_/" not in m.group(0)}


def run_python(cluster: ModalCluster, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cluster.venv / "bin" / "python"), "-c", script],
        env=cluster.modal_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_class_methods_are_web_endpoints(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    printed = deploy_example(modal_cluster, tmp_path)
    assert set(printed) == {"Greeter.greet", "Greeter.api", "Greeter.guarded", "files"}, printed
    assert request(printed["Greeter.greet"] + "?name=bob") == (200, '{"text":"hello bob","served":1}')
    # The same container (its @enter ran once) keeps its state between requests.
    assert request(printed["Greeter.greet"] + "?name=al") == (200, '{"text":"hello al","served":2}')
    assert request(printed["Greeter.api"] + "shout/hey") == (200, '{"shout":"HELLO HEY"}')
    assert request(printed["Greeter.guarded"])[0] == 401  # requires_proxy_auth: nano-modal's proxy tokens
    key, secret = proxy_token(modal_cluster)
    assert request(printed["Greeter.guarded"], headers={"Modal-Key": key, "Modal-Secret": secret}) == (
        200,
        '{"ok":true}',
    )
    lookup = run_python(
        modal_cluster,
        "import modal\n"
        "greeter = modal.Cls.from_name('nano-compat-cls-web', 'Greeter')()\n"
        "print(greeter.greet.get_web_url(), greeter.whoami.remote())\n",
    )
    assert lookup.stdout.split() == [printed["Greeter.greet"], "nobody"], lookup.stdout + lookup.stderr
    assert request(printed["files"]) == (200, "hello from a web server\n")  # @modal.web_server


def test_with_options_and_exit_hook_on_stop(modal_cluster: ModalCluster, tmp_path: Path) -> None:
    deploy_example(modal_cluster, tmp_path)
    variants = run_python(
        modal_cluster,
        "import modal\n"
        "Greeter = modal.Cls.from_name('nano-compat-cls-web', 'Greeter')\n"
        "who = modal.Secret.from_dict({'WHO': 'a variant'})\n"
        "print(Greeter.with_options(secrets=[who], cpu=0.5, memory=256)().whoami.remote())\n"
        "try:\n"
        "    Greeter.with_options(memory=10_000_000)().whoami.remote()\n"
        "except Exception as exc:\n"
        "    print(exc)\n",
    )
    lines = variants.stdout.splitlines()
    assert lines[:1] == ["a variant"], variants.stdout + variants.stderr  # its secret, in its containers
    # Its memory reached placement: no worker has 10 TB.
    assert "no worker can run Greeter.*: it asks for cpu=0.25 and memory=10,000,000 MiB" in variants.stdout, (
        variants.stdout + variants.stderr
    )
    stop = modal_cluster.modal("app", "stop", "-y", "nano-compat-cls-web", cwd=tmp_path)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    log = run_python(
        modal_cluster,
        "import time, modal\n"
        "log = modal.Dict.from_name('nano-compat-cls-web-log', create_if_missing=True)\n"
        "for _ in range(120):\n"
        "    if 'a variant' in log:\n"
        "        break\n"
        "    time.sleep(0.5)\n"
        "print(log.get('a variant'))\n",
    )
    # The variant's container ran its @modal.exit() when the stop ended it (one call, no web request).
    assert log.stdout.strip() == "served 0", log.stdout + log.stderr
