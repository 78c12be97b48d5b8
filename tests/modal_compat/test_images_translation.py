"""How the layers the real modal client sends become nano-modal ImageSpecs (modal_compat/images.py),
read as the client 1.6.4 sends them (its own Image methods build the requests)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from nano_modal.server.blobs import BlobStore
from nano_modal.server.modal_compat.auth import Refused
from nano_modal.server.modal_compat.images import LayerCache, load_spec, store_spec, translate

pb: Any = pytest.importorskip("modal_proto.api_pb2")

SLIM_3_11 = [  # what Image.debian_slim("3.11") sends with builder version 2025.06
    "FROM python:3.11.13-slim-bookworm",
    "RUN apt-get update",
    "RUN apt-get install -y gcc gfortran build-essential",
    "RUN pip install --upgrade pip wheel uv",
    "RUN echo 'debconf debconf/frontend select Noninteractive' | debconf-set-selections",
    'CMD ["sleep", "172800"]',
]


def _request(commands: list[str], base: str = "", **fields: Any) -> Any:
    image = pb.Image(dockerfile_commands=commands, gpu_config=pb.GPUConfig(), **fields)
    if base:
        image.base_images.append(pb.BaseImage(docker_tag="base", image_id=base))
    namespace = pb.DEPLOYMENT_NAMESPACE_WORKSPACE if base else pb.DEPLOYMENT_NAMESPACE_GLOBAL
    return pb.ImageGetOrCreateRequest(image=image, namespace=namespace)


def test_debian_slim_then_steps_make_one_spec(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    slim = translate(pb, _request(SLIM_3_11), blobs)
    assert (slim.base.kind, slim.base.python_version, list(slim.steps)) == ("debian", "3.11", [])
    commands = ["FROM base", "RUN python -m pip install six", "ENV X='1'", "WORKDIR /srv"]
    layer = _request(commands, store_spec(blobs, slim))
    spec = translate(pb, layer, blobs)
    assert spec.base.kind == "debian"
    assert [(s.kind, list(s.args), dict(s.options)) for s in spec.steps] == [
        ("run_commands", ["python -m pip install six"], {}),
        ("env", [], {"X": "1"}),
        ("workdir", ["/srv"], {}),
    ]
    assert load_spec(blobs, store_spec(blobs, spec)) == spec


def test_a_python_without_a_nano_modal_base_is_pulled_with_modal_s_setup(tmp_path: Path) -> None:
    spec = translate(pb, _request(["FROM python:3.14-slim-trixie", "RUN apt-get update"]), BlobStore(tmp_path))
    assert (spec.base.kind, spec.base.ref, [s.args[0] for s in spec.steps]) == (
        "registry",
        "python:3.14-slim-trixie",
        ["apt-get update"],
    )


@pytest.mark.parametrize(
    ("commands", "fields", "says"),
    [
        (["FROM python:3.11-slim", "COPY /python/. /usr/local"], {}, "add_python=) is not supported"),
        (["FROM python:3.11-slim", "COPY missing.txt /opt/"], {}, "COPY source 'missing.txt' not found"),
        (["FROM python:3.11-slim", "RUN true"], {"gpu_config": pb.GPUConfig(gpu_type="A100", count=1)}, "GPU"),
        (["FROM python:3.11-slim", 'SHELL ["/bin/bash"]'], {}, "SHELL is not supported"),
        ([], {"build_function": pb.BuildFunction(globals=b"x")}, "run_function"),
    ],
)
def test_what_cannot_be_built_is_refused_in_one_line(
    tmp_path: Path, commands: list[str], fields: dict[str, Any], says: str
) -> None:
    request = _request(commands)
    for name, value in fields.items():
        getattr(request.image, name).CopyFrom(value)
    with pytest.raises(Refused) as caught:
        translate(pb, request, BlobStore(tmp_path))
    message = str(caught.value)
    assert "nano-modal cannot build this image" in message and says in message and "\n" not in message


def _tar_names(blobs: BlobStore, step: Any) -> dict[str, bytes]:
    """The files a copy step's tar holds, by name (the tar is named by its sha256)."""
    assert step.blob_id == step.content_hash == hashlib.sha256(blobs.read(step.blob_id)).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(blobs.read(step.blob_id))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _mount(blobs: BlobStore, files: dict[str, bytes]) -> str:
    """A mount as MountGetOrCreate keeps it: its files' blobs and a manifest of them."""
    manifest = {}
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        blobs.put(digest, [data])
        manifest[name] = [digest, 0o644]
    data = json.dumps(manifest, sort_keys=True).encode()
    blobs.put(hashlib.sha256(data).hexdigest(), [data])
    return "mo-" + hashlib.sha256(data).hexdigest()


def test_a_requirements_file_sent_inline_is_copied_then_installed(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    base = store_spec(blobs, translate(pb, _request(SLIM_3_11), blobs))
    commands = [
        "FROM base",
        "COPY /.requirements.txt /.requirements.txt",
        "RUN python -m pip install -r /.requirements.txt",
    ]
    request = _request(
        commands, base, context_files=[pb.ImageContextFile(filename="/.requirements.txt", data=b"six\n")]
    )
    spec = translate(pb, request, blobs)
    copy, install = spec.steps
    assert (copy.kind, list(copy.args), dict(copy.options)) == (
        "add_local",
        [".requirements.txt", "/.requirements.txt"],
        {"copy": "1", "file": "1"},
    )
    assert _tar_names(blobs, copy) == {".requirements.txt": b"six\n"}
    assert install.args == ["python -m pip install -r /.requirements.txt"]
    assert translate(pb, request, blobs) == spec  # the same files, the same layer (a cache hit)


def test_a_context_mount_is_copied_as_its_copy_lines_say(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    base = store_spec(blobs, translate(pb, _request(SLIM_3_11), blobs))
    mount = _mount(blobs, {"/opt/pkg/__init__.py": b"X = 1\n", "/opt/pkg/sub/a.py": b"A = 2\n"})
    spec = translate(pb, _request(["FROM base", "COPY . /"], base, context_mount_id=mount), blobs)
    (copy,) = spec.steps
    assert (copy.kind, list(copy.args), dict(copy.options)) == ("add_local", [".", "/"], {"copy": "1"})
    assert _tar_names(blobs, copy) == {"opt/pkg/__init__.py": b"X = 1\n", "opt/pkg/sub/a.py": b"A = 2\n"}
    data = _mount(blobs, {"/data/x.csv": b"1,2\n", "/conf.toml": b"a = 1\n"})
    spec = translate(
        pb,
        _request(
            ["FROM base", "WORKDIR /srv", "COPY data ./data/", "COPY conf.toml /etc/"], base, context_mount_id=data
        ),
        blobs,
    )
    assert [(s.kind, list(s.args)) for s in spec.steps] == [
        ("workdir", ["/srv"]),
        ("add_local", ["data", "/srv/data/"]),
        ("add_local", ["conf.toml", "/etc/conf.toml"]),
    ]
    assert _tar_names(blobs, spec.steps[1]) == {"x.csv": b"1,2\n"}


def test_uv_copied_out_of_its_image_is_pip_installed_instead(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    base = store_spec(blobs, translate(pb, _request(SLIM_3_11), blobs))
    commands = [  # what uv_pip_install("six", uv_version="0.8.0") sends
        "FROM base",
        "COPY --from=ghcr.io/astral-sh/uv:0.8.0 /uv /.uv/uv",
        "RUN /.uv/uv pip install --python $(command -v python) --compile-bytecode six",
    ]
    spec = translate(pb, _request(commands, base), blobs)
    assert [s.args[0] for s in spec.steps] == [
        'python -m pip install uv==0.8.0 && mkdir -p "$(dirname /.uv/uv)" && ln -sf "$(command -v uv)" /.uv/uv',
        "/.uv/uv pip install --python $(command -v python) --compile-bytecode six",
    ]


@pytest.mark.parametrize(
    "name", ["/../../nano-modal-escape.txt", "../nano-modal-escape.txt", "/a/../../nano-modal-escape.txt"]
)
def test_a_context_file_outside_the_context_is_refused_and_written_nowhere(tmp_path: Path, name: str) -> None:
    import tempfile

    scratch_parent = Path(tempfile.gettempdir())  # where the server writes build contexts out
    before = sorted(p.name for p in scratch_parent.iterdir() if "escape" in p.name)
    blobs = BlobStore(tmp_path / "blobs")
    commands = ["FROM python:3.11-slim", "COPY . /"]
    request = _request(commands, context_files=[pb.ImageContextFile(filename=name, data=b"x")])
    with pytest.raises(Refused) as caught:
        translate(pb, request, blobs)
    assert "is not a file inside the build context" in str(caught.value)
    assert sorted(p.name for p in scratch_parent.iterdir() if "escape" in p.name) == before
    assert not list(tmp_path.rglob("nano-modal-escape.txt"))


def test_a_file_and_a_directory_of_one_name_are_refused_in_one_line(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    mount = _mount(blobs, {"/a": b"file", "/a/b": b"under a file"})
    with pytest.raises(Refused) as caught:
        translate(pb, _request(["FROM python:3.11-slim", "COPY . /"], context_mount_id=mount), blobs)
    assert "cannot be written" in str(caught.value) and "\n" not in str(caught.value)


def test_a_layer_translated_before_is_remembered_while_its_files_are_kept(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    cache = LayerCache()
    mount = _mount(blobs, {"/opt/pkg/__init__.py": b"X = 1\n"})
    base = store_spec(blobs, translate(pb, _request(SLIM_3_11), blobs))
    first = _request(["FROM base", "COPY . /"], base, context_mount_id=mount)
    first.app_id = "ap-1"
    spec = translate(pb, first, blobs)
    image_id = store_spec(blobs, spec)
    cache.put(cache.key(first), image_id)
    again = _request(["FROM base", "COPY . /"], base, context_mount_id=mount)
    again.app_id = "ap-2"  # another `modal run` of the same project
    assert cache.get(cache.key(again), blobs) == (image_id, spec)
    blobs.path(spec.steps[0].blob_id).unlink()  # its files collected since: translated again
    assert cache.get(cache.key(again), blobs) is None
    forced = _request(["FROM base", "COPY . /"], base, context_mount_id=mount)
    forced.force_build = True
    assert cache.key(forced) is None
