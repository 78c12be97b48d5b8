"""Deployments: versions, lookup by name from other processes, rollback, stop, schedules, logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Cluster
from tests.helpers import wait_for

APP_SOURCE = """
import time
import nano_modal

app = nano_modal.App("{name}")
VERSION = {version}


@app.function()
def which(x: int) -> tuple[int, int]:
    print("serving", x)
    return VERSION, x


@app.function()
def slow(seconds: float) -> int:
    nano_modal.Dict.from_name("deploy-test-started", create_if_missing=True)["slow"] = VERSION
    time.sleep(seconds)
    return VERSION


@app.cls()
class Scaler:
    factor: int = nano_modal.parameter(default=2)

    @nano_modal.method()
    def scale(self, x: int) -> int:
        return x * self.factor * VERSION
"""


def cli(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nano_modal.cli", *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def python(cluster: Cluster, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], env=cluster.env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def write_app(path: Path, name: str, version: int) -> Path:
    path.write_text(APP_SOURCE.format(name=name, version=version))
    return path


def test_deploy_lookup_redeploy_rollback_stop(cluster: Cluster, tmp_path: Path) -> None:
    source = write_app(tmp_path / "versioned.py", "deploy-test", 1)
    out = cli(cluster, "deploy", str(source), "--tag", "first").stdout
    assert "deployed deploy-test as v1" in out
    call = "import nano_modal; print(nano_modal.Function.from_name('deploy-test', 'which').remote(5))"
    assert python(cluster, call) == "(1, 5)"
    cls_call = "import nano_modal; print(nano_modal.Cls.from_name('deploy-test', 'Scaler')(factor=3).scale.remote(2))"
    assert python(cluster, cls_call) == "6"

    # A call in flight when v2 lands finishes on v1; new calls get v2.
    in_flight = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import nano_modal; print(nano_modal.Function.from_name('deploy-test', 'slow').remote(3))",
        ],
        env=cluster.env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    # v2 lands once the call runs on v1 (a fixed sleep lost that race on a loaded machine).
    started = (
        "import nano_modal; print(nano_modal.Dict.from_name('deploy-test-started', create_if_missing=True).get('slow'))"
    )
    assert wait_for(lambda: python(cluster, started) == "1", timeout=60)
    write_app(source, "deploy-test", 2)
    assert "as v2" in cli(cluster, "deploy", str(source), "--tag", "second").stdout
    assert python(cluster, call) == "(2, 5)"
    assert python(cluster, cls_call) == "12"
    stdout, _ = in_flight.communicate(timeout=60)
    assert stdout.strip() == "1"

    history = cli(cluster, "app", "history", "deploy-test").stdout
    assert "v1" in history and "v2" in history and "second" in history
    assert "now at v3" in cli(cluster, "app", "rollback", "deploy-test", "v1").stdout
    assert python(cluster, call) == "(1, 5)"

    listed = cli(cluster, "app", "list").stdout
    assert "deploy-test" in listed and "deployed" in listed
    logs = cli(cluster, "app", "logs", "deploy-test").stdout
    assert "serving 5" in logs

    cli(cluster, "app", "stop", "deploy-test")
    missing = subprocess.run(
        [sys.executable, "-c", call], env=cluster.env(), capture_output=True, text=True, timeout=60
    )
    assert missing.returncode != 0
    assert "NotFoundError" in missing.stderr and "deploy-test" in missing.stderr


def test_lookup_errors_name_what_is_missing(cluster: Cluster, tmp_path: Path) -> None:
    source = write_app(tmp_path / "named.py", "lookup-test", 1)
    cli(cluster, "deploy", str(source))
    code = (
        "import nano_modal\n"
        "for app, fn in [('no-such-app', 'which'), ('lookup-test', 'no_such_fn')]:\n"
        "    try:\n"
        "        nano_modal.Function.from_name(app, fn).remote(1)\n"
        "    except nano_modal.exception.NotFoundError as exc:\n"
        "        print(exc)\n"
    )
    out = python(cluster, code)
    assert "no deployed app named 'no-such-app'" in out
    assert "has no function 'no_such_fn' (it has: Scaler, slow, which)" in out


def test_deploying_a_broken_file_leaves_the_deployment_alone(cluster: Cluster, tmp_path: Path) -> None:
    source = write_app(tmp_path / "stable.py", "stable-test", 1)
    cli(cluster, "deploy", str(source))
    source.write_text("def broken(:\n")
    failed = cli(cluster, "deploy", str(source), check=False)
    assert failed.returncode != 0 and "SyntaxError" in failed.stderr
    call = "import nano_modal; print(nano_modal.Function.from_name('stable-test', 'which').remote(1))"
    assert python(cluster, call) == "(1, 1)"


def test_schedule_fires_on_deployed_app(cluster: Cluster, tmp_path: Path) -> None:
    source = tmp_path / "scheduled.py"
    source.write_text(
        "import nano_modal\n"
        "app = nano_modal.App('schedule-test')\n"
        "@app.function(schedule=nano_modal.Period(seconds=1))\n"
        "def tick():\n"
        "    print('tick ran')\n"
    )
    cli(cluster, "deploy", str(source))
    assert wait_for(lambda: cli(cluster, "app", "logs", "schedule-test").stdout.count("tick ran") >= 2, timeout=30)
    logs = cli(cluster, "app", "logs", "schedule-test").stdout
    assert "schedule: run for" in logs
    cli(cluster, "app", "stop", "schedule-test")


def test_invalid_cron_is_rejected_at_definition() -> None:
    import pytest

    import nano_modal
    from nano_modal.exception import InvalidError

    with pytest.raises(InvalidError, match="not a valid cron rule"):
        nano_modal.Cron("every tuesday")
    with pytest.raises(InvalidError, match="unknown timezone"):
        nano_modal.Cron("* * * * *", timezone="Mars/Olympus")
    with pytest.raises(InvalidError, match="must be positive"):
        nano_modal.Period(seconds=0)


def test_app_lookup_finds_deployed_apps_and_creates_only_missing_ones(cluster: Cluster, tmp_path: Path) -> None:
    source = write_app(tmp_path / "looked_up.py", "app-lookup-test", 1)
    assert "as v1" in cli(cluster, "deploy", str(source)).stdout
    # create_if_missing on an app that exists changes nothing: same app, same version, same functions.
    code = """
import nano_modal
from nano_modal.exception import NotFoundError
found = nano_modal.App.lookup("app-lookup-test", create_if_missing=True)
print(found.deployed_version, nano_modal.Function.from_name("app-lookup-test", "which").remote(3))
fresh = nano_modal.App.lookup("app-lookup-fresh", create_if_missing=True)
assert callable(nano_modal.App.lookup.aio)  # the async twin exists too
print(fresh.app_id == nano_modal.App.lookup("app-lookup-fresh").app_id, fresh.deployed_version)
try:
    nano_modal.App.lookup("app-lookup-missing")
except NotFoundError as exc:
    print("missing:", exc)
"""
    lines = python(cluster, code).splitlines()
    assert lines[0] == "1 (1, 3)"
    assert lines[1] == "True 1"
    assert lines[2].startswith("missing: no deployed app named 'app-lookup-missing'")
    history = cli(cluster, "app", "history", "app-lookup-test").stdout
    assert "v2" not in history  # not redeployed empty


BROKEN_IMAGE_APP = """
import nano_modal

app = nano_modal.App("image-check-test")
image = nano_modal.Image.debian_slim().pip_install("{requirement}")


@app.function(image=image)
def which(x: int) -> tuple[int, int]:
    return 2, x
"""


def test_deploy_builds_images_first_and_a_broken_one_fails_it(cluster: Cluster, tmp_path: Path) -> None:
    """The image is built before the new version is published, with the build's progress shown;
    a step that fails ends the deploy with one line and the deployed version keeps serving."""
    source = write_app(tmp_path / "images.py", "image-check-test", 1)
    cli(cluster, "deploy", str(source))
    source.write_text(BROKEN_IMAGE_APP.format(requirement=tmp_path / "no-such-package.whl"))
    failed = cli(cluster, "deploy", str(source), check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    errors = [line for line in (failed.stdout + failed.stderr).splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "building image" in errors[0] and "not deployed" in errors[0], failed
    assert "Traceback" not in failed.stderr
    assert "building 1 image(s)" in failed.stderr and "pip install" in failed.stderr  # the build, as it ran
    call = "import nano_modal; print(nano_modal.Function.from_name('image-check-test', 'which').remote(1))"
    assert python(cluster, call) == "(1, 1)"  # v1, untouched
