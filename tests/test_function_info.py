"""types.FunctionInfo from a definition (nano_modal/_function_info.py): the parts a unit test can see."""

from __future__ import annotations

from nano_modal._function_info import function_info, gpus
from nano_modal.proto import api_pb2


def test_gpus() -> None:
    assert gpus("") == [] and gpus("T4") == [("T4", 1)] and gpus("A100-80GB:2,H100") == [("A100-80GB", 2)]


def test_schedule_volumes_methods_and_web() -> None:
    definition = api_pb2.FunctionDefinition(
        is_class=True, methods=[api_pb2.MethodDefinition(name="run")], batch_max_size=8, batch_wait_ms=100
    )
    definition.schedule.period_months = 1
    definition.schedule.period_seconds = 3600
    definition.volume_mounts.add(mount_path="/data", volume_id="vo-1", read_only=True)
    definition.web.kind = "fastapi_endpoint"
    definition.web.method = "POST"
    info = function_info(definition, "http://x.localhost/")
    assert info.schedule == "every 1 months 3600s" and info.method_names == ["run"]
    assert info.volumes["/data"].volume_id == "vo-1" and info.volumes["/data"].read_only
    assert info.batching_info == info.BatchingInfo(8, 100)
    assert info.web_info == info.WebInfo("http://x.localhost/", "POST", True)
