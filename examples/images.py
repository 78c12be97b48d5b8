"""Images: the container a function runs in, defined in code.

    nano-modal run examples/images.py

The worker builds the image before the first container starts: a Debian root filesystem
with Python (built once per machine), then one cached layer per step. The build log shows
in your terminal; running this again rebuilds nothing. `nano-modal image list` shows what
was built. Without `image=`, functions run on the worker's own Python.
"""

import sys
from pathlib import Path

import nano_modal as modal

app = modal.App("images")

models = modal.Volume.from_name("images-example-models", create_if_missing=True)


def fetch_model() -> None:
    """Runs once, inside the image, at build time: what it writes to /opt becomes a layer. The
    volume keeps the download between builds (a real one would fetch weights here)."""
    cached = Path("/models/weights.txt")
    if not cached.exists():
        cached.write_text("weights v1")
    Path("/opt/weights.txt").write_text(cached.read_text())


image = (
    modal.Image.debian_slim(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
    .pip_install("six")  # from PyPI, into the image's Python
    # A uv project's dependencies at the versions its uv.lock pins (idna 3.3, not the latest).
    .uv_sync(str(Path(__file__).parent / "uv_project"))
    .run_function(fetch_model, volumes={"/models": models})
    .env({"GREETING": "hello from the image"})
    # Dockerfile lines work too (RUN, ENV, COPY, ARG, WORKDIR...), with ARGs set by build_args.
    .dockerfile_commands("ARG FLAVOR=plain", "ENV FLAVOR=${FLAVOR}", build_args={"FLAVOR": "dockerfile"})
    .workdir("/srv/app")
    .add_local_file(Path(__file__), "/srv/app/example.py")  # mounted when containers start
)

with image.imports():
    import idna
    import six  # installed in the image: an ImportError here is swallowed


@app.function(image=image)
def inside() -> dict[str, str]:
    import os

    return {
        "python": sys.executable,
        "six": six.__version__,
        "idna": idna.__version__,
        "debian": Path("/etc/debian_version").read_text().strip(),
        "greeting": os.environ["GREETING"],
        "flavor": os.environ.get("FLAVOR", "(unset)"),
        "cwd": os.getcwd(),
        "mounted": str(Path("example.py").exists()),
        "weights": Path("/opt/weights.txt").read_text() if Path("/opt/weights.txt").exists() else "(not built)",
    }


@app.local_entrypoint()
def main() -> None:
    # Built now (a cache hit if built before) rather than at the first call: its id can be reused.
    print("built:", image.build().object_id.startswith("im-"))
    for key, value in inside.remote().items():
        print(f"{key:>9}: {value}")
    # A sandbox in the same image; what it changes can become an image of its own.
    sb = modal.Sandbox.create(app=app, image=image)
    sb.exec("sh", "-c", "echo tuned > /srv/app/settings.txt").wait()
    try:
        snapshot = sb.snapshot_filesystem()
    except modal.exception.ExecutionError as exc:  # the `process` runtime has no root of its own
        print("snapshot:", exc)
        return
    finally:
        sb.terminate()
    again = modal.Sandbox.create(app=app, image=snapshot)
    print("from the snapshot:", again.exec("cat", "/srv/app/settings.txt").stdout.read().strip())
    # Root in a sandbox is a root of its own (under a root worker's bwrap, host uids of its own:
    # docs/SECURITY.md): users, chown and su work as on any Debian machine.
    p = again.exec("sh", "-c", "useradd --create-home app && su app -c 'touch ~/mine && whoami'")
    print("a user of its own:", p.stdout.read().strip() if p.wait() == 0 else "not here (needs a root worker's bwrap)")
    again.terminate()
    # A built image can be published under a name: other programs use it by that name.
    image.publish("images-example:v1")
    named = modal.Sandbox.create(app=app, image=modal.Image.from_name("images-example:v1"))
    print("by name:", named.exec("cat", "/opt/weights.txt").stdout.read().strip())
    named.terminate()
