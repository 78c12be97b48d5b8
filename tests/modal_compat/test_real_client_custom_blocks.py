"""Roboflow inference's custom Python blocks (seed 000): their `ModalExecutor`, from PyPI, runs
blocks of two workspaces through the executor app deployed with the real `modal` client.

The executor's own code: `roboflow_workflows/execution_engine/v1/dynamic_blocks/modal_executor.py`
(and the light modules beside it: configuration, errors, entities, error_utils), unpacked from
the roboflow-workflows wheel at test time. Importing it imports, through
`core_steps.common.deserializers` -> `core_steps.common.utils` -> `execution_engine.entities.base`,
torch and inference-models (gigabytes), which its HTTP path does not use for JSON data: those
few modules are stand-ins here (DRIVER). The app is examples/modal_client_custom_blocks.py (a
stand-in of Roboflow's modal/modal_app.py, which no package ships: see its docstring).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.modal_compat.conftest import MODAL_VERSION, ModalCluster, make_scratch_venv
from tests.modal_compat.test_real_client import write_app
from tests.modal_compat.test_real_client_web import proxy_token, request

pytestmark = pytest.mark.slow(reason="installs modal, numpy and roboflow-workflows from PyPI once")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "modal_client_custom_blocks.py"
WORKFLOWS_VERSION = "0.2.13"  # roboflow-workflows, whose modal_executor.py inference 1.8.3 uses
# The executor's Python: the modal client's, plus what modal_executor.py imports at its top.
VENV = Path(tempfile.gettempdir()) / f"nano-modal-test-modal-{MODAL_VERSION}-numpy-requests"
WHEELS = Path(tempfile.gettempdir()) / f"nano-modal-test-roboflow-workflows-{WORKFLOWS_VERSION}"
APP = "webexec-roboflow-platform"
B_DATA = "workspace-b-data"  # a dict of workspace B's blocks' service, which A's block must not read
B_SECRET = "workspace-b-key"

# Runs in the executor's venv as the inference server does: installs the host's configuration
# (the Modal pair: the proxy token) before importing the executor, then executes each block of
# BLOCKS (a JSON list of [workspace, code, inputs]) and prints one JSON line per block.
DRIVER = r"""
import dataclasses, json, os, sys, types

sys.path.insert(0, os.environ["ROBOFLOW_WORKFLOWS_DIR"])


def stand_in(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module


def kind(name):
    return type(name, (), {})


# The modules that import torch, cv2 or supervision (unused by the HTTP path for JSON data).
stand_in("roboflow_workflows.core_steps.common.deserializers", deserialize_image_kind=None,
         deserialize_rle_detections_kind=None, deserialize_video_metadata_kind=None)
stand_in("roboflow_workflows.core_steps.common.serializers", serialize_video_metadata_kind=None,
         serialise_sv_detections_for_transport=None)
stand_in("roboflow_workflows.execution_engine.entities.base", ParentOrigin=kind("ParentOrigin"),
         Batch=kind("Batch"), VideoMetadata=kind("VideoMetadata"), WorkflowImageData=kind("WorkflowImageData"))
stand_in("roboflow_workflows.prototypes.block", BlockResult=dict)
stand_in("roboflow_workflows.utils.images", encode_image_to_jpeg_bytes=None)
stand_in("supervision", Detections=kind("Detections"))

from roboflow_workflows import configuration

default = configuration.default_configuration()
modal_settings = dataclasses.replace(
    default.modal, token_id=os.environ["PROXY_KEY"], token_secret=os.environ["PROXY_SECRET"]
)
configuration.configure_process(dataclasses.replace(default, modal=modal_settings))

from roboflow_workflows.errors import DynamicBlockCodeError, DynamicBlockError
from roboflow_workflows.execution_engine.v1.dynamic_blocks.entities import PythonCode
from roboflow_workflows.execution_engine.v1.dynamic_blocks.modal_executor import ModalExecutor

executors = {}
for workspace, code, inputs in json.loads(os.environ["BLOCKS"]):
    block = PythonCode(type="PythonCode", run_function_code=code, run_function_name="run")
    executor = executors.setdefault(workspace, ModalExecutor(workspace_id=workspace))
    try:
        outcome = {"result": executor.execute_remote("block", block, inputs, workspace_id=workspace)}
    except DynamicBlockCodeError as exc:
        outcome = {"block_error": str(exc)}
    except DynamicBlockError as exc:
        outcome = {"error": str(exc)}
    print(json.dumps(outcome, default=str), flush=True)
"""

WHO = "def run(self, a, b):\n    return {'product': a * b, 'task': os.environ.get('MODAL_TASK_ID')}\n"
# Workspace A's block reaching for workspace B's objects (each attempt's outcome, as text).
SNOOP = f"""
def run():
    import modal
    probes = {{
        "dict": lambda: modal.Dict.from_name({B_DATA!r}).get("api_key"),
        "secret": lambda: modal.Secret.from_name({B_SECRET!r}).hydrate().object_id,
        "queue": lambda: modal.Queue.from_name("workspace-b-jobs", create_if_missing=True).len(),
    }}
    seen = {{}}
    for name, probe in probes.items():
        try:
            seen[name] = repr(probe())
        except Exception as exc:
            seen[name] = type(exc).__name__ + ": " + str(exc)
    return seen
"""
# Whatever a block returns or raises, the caller reads JSON and text: code that would run on
# unpickling (here: creating MARKER) must not run in the executor's process.
HOSTILE = """
import pathlib
MARKER = {marker!r}
class Payload:
    def __reduce__(self):
        return (pathlib.Path(MARKER).touch, ())
class Boom(Exception):
    def __reduce__(self):
        return (pathlib.Path(MARKER).touch, ())
def run(fail):
    if fail:
        raise Boom("caught")
    return {{"payload": Payload(), "_type": "object", "value": Payload()}}
"""


@dataclass
class Executor:
    cluster: ModalCluster
    python: Path
    workflows_dir: Path
    proxy: tuple[str, str]
    url: str  # the Executor.execute_block URL `modal deploy` printed

    def run(self, *blocks: tuple[str, str, dict[str, object]]) -> list[dict[str, object]]:
        env = self.cluster.modal_env() | {
            "ROBOFLOW_WORKFLOWS_DIR": str(self.workflows_dir),
            "PROXY_KEY": self.proxy[0],
            "PROXY_SECRET": self.proxy[1],
            "MODAL_WEB_ENDPOINT_URL": self.url,  # the executor's setting for an endpoint of its own
            "BLOCKS": json.dumps(blocks),
        }
        done = subprocess.run([str(self.python), "-c", DRIVER], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def roboflow_workflows(python: Path) -> Path | str:
    """The roboflow-workflows wheel from PyPI, unpacked (its modules are read, not installed)."""
    unpacked = WHEELS / "unpacked"
    if (unpacked / "roboflow_workflows").is_dir():
        return unpacked
    WHEELS.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        [str(python), "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEELS),
         f"roboflow-workflows=={WORKFLOWS_VERSION}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    wheels = sorted(WHEELS.glob("roboflow_workflows-*.whl"))
    if download.returncode != 0 or not wheels:
        return f"cannot download roboflow-workflows=={WORKFLOWS_VERSION}: {download.stderr.strip()[-300:]}"
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(WHEELS / "partial")
    (WHEELS / "partial").rename(unpacked)
    return unpacked


@pytest.fixture(scope="module")
def executor(modal_cluster: ModalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Executor]:
    venv = make_scratch_venv(VENV, (f"modal=={MODAL_VERSION}", "numpy", "requests"), "import modal, numpy, requests")
    if isinstance(venv, str):
        pytest.skip(venv)
    python = venv / "bin" / "python"
    workflows_dir = roboflow_workflows(python)
    if isinstance(workflows_dir, str):
        pytest.skip(workflows_dir)
    app_dir = tmp_path_factory.mktemp("custom-blocks")
    write_app(app_dir, EXAMPLE.read_text())
    deploy = modal_cluster.modal("deploy", "app.py", cwd=app_dir)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    printed = [word for word in deploy.stdout.split() if word.endswith("/Executor.execute_block/")]
    assert printed, deploy.stdout
    yield Executor(modal_cluster, python, workflows_dir, proxy_token(modal_cluster), printed[0])


def test_blocks_of_two_workspaces_run_in_their_own_containers(executor: Executor) -> None:
    """The executor posts to `...?workspace_id=W`: W is the class's parameter, one pool each."""
    a1, b1, a2 = executor.run(
        ("acme", WHO, {"a": 6, "b": 7}), ("globex", WHO, {"a": 2, "b": 3}), ("acme", WHO, {"a": 1, "b": 5})
    )
    results: list[dict[str, object]] = [outcome.get("result") or {} for outcome in (a1, b1, a2)]  # type: ignore[misc]
    assert [result.get("product") for result in results] == [42, 6, 5], (a1, b1, a2)
    assert results[0]["task"] != results[1]["task"]
    # The deploy script's own lookup: an instance's endpoint URL carries its parameters.
    lookup = executor.cluster.python(
        "-c",
        f"import modal\nacme = modal.Cls.from_name({APP!r}, 'Executor')(workspace_id='acme')\n"
        "print(acme.execute_block.get_web_url())",
        cwd=Path(tempfile.gettempdir()),
    )
    assert lookup.stdout.strip() == executor.url + "?workspace_id=acme", lookup.stdout + lookup.stderr
    # A request that names no workspace is the caller's mistake, said in one line (no container starts).
    headers = {"Modal-Key": executor.proxy[0], "Modal-Secret": executor.proxy[1]}
    body = {"code_str": WHO, "run_function_name": "run", "inputs_json": "{}"}
    assert request(executor.url, body, headers) == (
        400,
        "400 Bad Request: missing the class parameter 'workspace_id': add ?workspace_id=... to the URL\n",
    )


def test_a_block_cannot_reach_another_workspaces_objects(executor: Executor, tmp_path: Path) -> None:
    """restrict_modal_access=True: a block's own container may not use Modal's API at all."""
    setup = (
        "import modal\n"
        f"modal.Dict.from_name({B_DATA!r}, create_if_missing=True)['api_key'] = 'b-only'\n"
        f"print(sorted(modal.Dict.from_name({B_DATA!r}).items()))\n"
    )
    secret = executor.cluster.modal("secret", "create", "--force", B_SECRET, "KEY=b-only", cwd=tmp_path)
    assert secret.returncode == 0, secret.stdout + secret.stderr
    before = executor.cluster.python("-c", setup, cwd=tmp_path)
    assert "b-only" in before.stdout, before.stdout + before.stderr
    [snooped] = executor.run(("acme", SNOOP, {}))
    seen = snooped.get("result")
    assert isinstance(seen, dict) and set(seen) == {"dict", "secret", "queue"}, snooped
    for outcome in seen.values():
        assert "restrict_modal_access=True" in outcome and "b-only" not in outcome, seen
    read = "import modal\n" + f"print(sorted(modal.Dict.from_name({B_DATA!r}).items()))\n"
    after = executor.cluster.python("-c", read, cwd=tmp_path)
    assert after.stdout == before.stdout.splitlines(keepends=True)[-1], after.stdout + after.stderr


def test_a_hostile_blocks_result_runs_no_code_in_the_caller(executor: Executor, tmp_path: Path) -> None:
    marker = tmp_path / "caller-ran-block-code"
    code = HOSTILE.format(marker=str(marker))
    returned, raised = executor.run(("acme", code, {"fail": False}), ("acme", code, {"fail": True}))
    assert "Payload object at" in json.dumps(returned.get("result")), returned  # text, not the object
    assert "Boom: caught" in str(raised.get("block_error")), raised
    assert not marker.exists()
