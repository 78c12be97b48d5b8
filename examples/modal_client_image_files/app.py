"""A Modal program whose image copies the project's files in, unchanged: a requirements file,
a package directory, a Dockerfile COPY (and uv_pip_install), built by nano-modal's image builder.

    cd examples/modal_client_image_files && modal run app.py   # set up as in
                                                               # examples/modal_client_app.py,
                                                               # with a bwrap (or gvisor) worker

The client uploads the files (a requirements file inline, directories as a mount); each copy
becomes a layer of the files, and the steps after it see them (docs/MODAL_CLIENT.md, "Images";
tests/modal_compat/test_real_client_images.py runs this directory).
"""

from pathlib import Path

import modal

image = (
    modal.Image.debian_slim()
    .pip_install_from_requirements("requirements.txt")
    .uv_pip_install("idna")  # uv is pip-installed in the image (Modal copies it from uv's image)
    .add_local_dir("greeter", "/opt/lib/greeter", copy=True)
    .dockerfile_commands(["COPY data/greeting.txt /etc/greeting.txt"])
    .env({"PYTHONPATH": "/opt/lib"})
    # a build step after the copies sees them: the package imports while the image is built
    .run_commands("python -c 'import greeter; print(greeter.GREETING)' > /opt/built.txt")
)
app = modal.App("nano-compat-image-files", image=image)


@app.function()
def f() -> tuple[str, str, str, str, str]:
    import greeter
    import idna
    import six

    built = Path("/opt/built.txt").read_text().strip()
    return six.__version__, idna.__version__, greeter.GREETING, Path("/etc/greeting.txt").read_text().strip(), built


@app.local_entrypoint()
def main() -> None:
    version, idna_version, greeting, copied, built = f.remote()
    print("six:", version, "| idna:", idna_version, "| greeter:", greeting, "| COPY:", copied, "| built:", built)
