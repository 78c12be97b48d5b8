"""Behaviours Modal programs rely on, beyond the basics (issue 14): options Modal's cloud has,
Modal's container variables, FunctionCall.gather/iter, Function variants, App.include."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import nano_modal
from nano_modal.exception import InvalidError
from tests.apps import parity_app
from tests.apps.parity_app import Greeter, batch_size, container_info, environment, fail, helper, square
from tests.conftest import Cluster
from tests.helpers import wait_for


@pytest.fixture(scope="module")
def running(cluster: Cluster) -> Iterator[None]:
    with parity_app.app.run():
        yield


def test_env_option_and_modal_container_variables(running: None) -> None:
    got = environment.remote()
    assert got["GREETING"] == "hello from env="
    assert got["MODAL_IS_REMOTE"] == "1"
    assert got["MODAL_TASK_ID"].startswith("ct-") or len(got["MODAL_TASK_ID"]) > 4, got
    assert got["MODAL_ENVIRONMENT"] == "main"
    assert got["MODAL_REGION"] == "local"  # region="us-east-1" was ignored, with a note


def test_cloud_only_options_are_accepted_with_a_note(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nano_modal import _porting_options

    monkeypatch.setattr(_porting_options, "_noted", set())  # each is noted once per process
    app = nano_modal.App("parity-notes")

    @app.function(serialized=True, nonpreemptible=True, enable_memory_snapshot=True, ephemeral_disk=1024)
    def f() -> None:
        pass

    err = capsys.readouterr().err
    assert "App.function(nonpreemptible=...) ignored" in err and "enable_memory_snapshot" in err
    assert "ephemeral_disk" not in err  # a real option now: the size of each container's disk
    assert err.count("\n") == 2  # one line each
    with pytest.raises(InvalidError, match="network_file_systems"):
        app.function(serialized=True, network_file_systems={"/x": object()}, name="g")(lambda: None)


def test_class_with_cloud_only_options_and_env(running: None) -> None:
    assert Greeter().greet.remote("ada") == "cls: hi ada"


def test_included_app_runs_with_the_including_one(running: None) -> None:
    assert helper.remote(1) == 1001
    assert "helper" in parity_app.app.registered_functions
    assert set(parity_app.app.registered_classes) == {"Greeter"}


def test_function_call_gather_and_iter(running: None) -> None:
    calls = [square.spawn(i) for i in range(4)]
    assert nano_modal.FunctionCall.gather(*calls) == [0, 1, 4, 9]
    with pytest.raises(ValueError, match=r"fail\(3\)"):
        nano_modal.FunctionCall.gather(square.spawn(2), fail.spawn(3))
    mapped = square.spawn_map(range(6))
    assert list(mapped.iter()) == [0, 1, 4, 9, 16, 25]
    assert list(mapped.iter(start=2, end=4)) == [4, 9]
    assert mapped.get(index=5) == 25
    assert mapped.num_inputs() == 6
    with pytest.raises(InvalidError, match="spawn_map"):
        list(square.spawn(1).iter())


def test_function_variants_run_in_their_own_pool(running: None) -> None:
    base = container_info.remote()
    bigger = container_info.with_options(memory=321, env={"EXTRA": "yes"}, region="eu")
    got = bigger.remote()
    assert got["extra"] == "yes" and base["extra"] == ""
    assert got["pid"] != base["pid"]  # its own containers
    concurrent = container_info.with_concurrency(max_inputs=4)
    assert len({r["pid"] for r in concurrent.map(range(8))}) <= 2
    batched = batch_size.with_batching(max_batch_size=4, wait_ms=500)
    assert max(batched.map(range(8))) > 1  # the plain function sees batches of one
    assert set(batch_size.map(range(3))) == {1}


def test_update_autoscaler_and_current_stats(running: None) -> None:
    assert square.remote(3) == 9
    settings = square.update_autoscaler(min_containers=2, max_containers=3, buffer_containers=1)
    assert (settings.min_containers, settings.max_containers) == (2, 3)
    # The scheduler keeps the new minimum warm without a redeploy.
    assert wait_for(lambda: square.get_current_stats().num_total_runners >= 2, timeout=120)
    stats = square.get_current_stats()
    assert stats.backlog == 0 and stats.num_running_inputs == 0
    with pytest.raises(InvalidError, match="exceeds max_containers"):
        square.update_autoscaler(min_containers=5)
    square.update_autoscaler(min_containers=0)
    # The same through Function.autoscaler: settings() reads what update() left.
    assert square.autoscaler.update(max_containers=4).max_containers == 4
    assert (square.autoscaler.settings().min_containers, square.autoscaler.settings().max_containers) == (0, 4)


def test_secret_update_merges(cluster: Cluster) -> None:
    name = f"parity-{uuid.uuid4().hex[:8]}"
    nano_modal.Secret.objects.create(name, {"A": "1", "B": "2"})
    secret = nano_modal.Secret.from_name(name)
    secret.update({"B": "two", "C": "3"})
    app = nano_modal.App("parity-secret")

    @app.function(serialized=True, secrets=[secret])
    def read() -> list[str | None]:
        import os

        return [os.environ.get(k) for k in ("A", "B", "C")]

    with app.run():
        assert read.remote() == ["1", "two", "3"]
    with pytest.raises(nano_modal.exception.NotFoundError):
        nano_modal.Secret.from_name(f"{name}-missing").update({"X": "1"})


def test_install_as_modal_on_the_client() -> None:
    """Opt-in on the client: after install_as_modal(), `modal.X` is the very module nano_modal.X."""
    import subprocess
    import sys

    code = (
        "import nano_modal\n"
        "nano_modal.install_as_modal()\n"
        "import modal, modal.exception\n"
        "from modal.functions import FunctionCall\n"
        "assert modal is nano_modal and modal.exception is nano_modal.exception\n"
        "assert FunctionCall is nano_modal.FunctionCall\n"
        "try:\n"
        "    raise nano_modal.exception.NotFoundError('x')\n"
        "except modal.Error:\n"
        "    print('caught')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "caught", out.stderr


def test_hydrate_resolves_now(running: None) -> None:
    with pytest.raises(nano_modal.exception.NotFoundError):
        nano_modal.Function.from_name("parity-no-such-app", "f").hydrate()
    assert square.hydrate() is square and square.object_id
    call = nano_modal.FunctionCall.from_id(square.spawn(5).object_id).hydrate()
    assert call.get() == 25
    by_id = nano_modal.Function.from_id(str(square.object_id))
    assert by_id.remote(6) == 36 and by_id.name == "square"
    assert nano_modal.Period(weeks=1).total_seconds() == 7 * 86400


def test_object_info_and_listing_filters(cluster: Cluster) -> None:
    import datetime

    name = f"parity-info-{uuid.uuid4().hex[:8]}"
    before = datetime.datetime.now(datetime.UTC)
    d = nano_modal.Dict.from_name(name, create_if_missing=True)
    info = d.info()
    assert isinstance(info, nano_modal.types.DictInfo) and info.name == name
    assert info.created_at is not None and info.created_at >= before - datetime.timedelta(seconds=5)
    nano_modal.Secret.objects.create(name, {"K": "v"})
    secret_info = nano_modal.Secret.from_name(name).info()
    assert isinstance(secret_info, nano_modal.types.SecretInfo) and secret_info.environment_name
    listed = nano_modal.Dict.objects.list(created_before=before - datetime.timedelta(days=1))
    assert name not in [x.name for x in listed]
    assert len(nano_modal.Dict.objects.list(max_objects=1)) == 1


def test_enable_output_and_volume_versions() -> None:
    from nano_modal._output import output_enabled

    assert not output_enabled()
    with nano_modal.enable_output(), nano_modal.enable_output(show_progress=False):
        assert output_enabled()  # app.run(show_logs=False) inside shows containers' output anyway
    assert not output_enabled()
    for version in (None, 1, 2):
        nano_modal.Volume.from_name("parity-versions", version=version)
    with pytest.raises(InvalidError, match="version must be one of"):
        nano_modal.Volume.from_name("parity-versions", version=3)


def test_method_variants_point_to_cls_with_options(running: None) -> None:
    with pytest.raises(InvalidError, match=r"Cls\.with_options"):
        Greeter().greet.with_options(cpu=1)
