"""Sandboxes with the real `modal` client from PyPI, against nano-modal (docs/MODAL_CLIENT.md).

    export MODAL_SERVER_URL=http://127.0.0.1:50051 MODAL_TOKEN_ID=... MODAL_TOKEN_SECRET=...
    modal run examples/modal_client_sandbox.py

Each sandbox is a nano-modal sandbox: its commands, stdin and output go through the task
command router nano-modal's server serves for Modal's client.
"""

import modal

app = modal.App("modal-client-sandbox")


@app.local_entrypoint()
def main():
    # A command with output; the sandbox ends when it does.
    sb = modal.Sandbox.create("sh", "-c", "echo hello from a sandbox in $(pwd)", app=app, workdir="/tmp", timeout=60)
    print("stdout:", sb.stdout.read().strip())
    sb.wait()
    print("returncode:", sb.returncode)

    # Stdin in, stdout back.
    sb = modal.Sandbox.create("python", "-c", "import sys; print(sys.stdin.read().upper())", app=app)
    sb.stdin.write(b"round trip")
    sb.stdin.write_eof()
    sb.stdin.drain()
    print("echoed:", sb.stdout.read().strip())
    sb.wait()

    # A long-lived sandbox: commands run in it with exec, each with its own output and exit code.
    greeting = modal.Secret.from_dict({"GREETING": "hi"})
    sb = modal.Sandbox.create("sleep", "600", app=app, secrets=[greeting])
    sb.set_tags({"role": "worker"})
    print("poll while running:", sb.poll())
    p = sb.exec("sh", "-c", "echo $GREETING from the sandbox; echo oops >&2; exit 3")
    print("exec stdout:", p.stdout.read().strip())
    print("exec stderr:", p.stderr.read().strip())
    print("exec exit code:", p.wait())
    p = sb.exec("sh", "-c", "echo $WHO $LEVEL", env={"WHO": "exec"}, secrets=[modal.Secret.from_dict({"LEVEL": "2"})])
    print("exec env and secrets:", p.stdout.read().strip())
    p = sb.exec("python", "-c", "import sys; sys.stdout.write(sys.stdin.read()[::-1])")
    p.stdin.write(b"olleh")
    p.stdin.write_eof()
    p.stdin.drain()
    print("exec stdin:", p.stdout.read())
    # Files in the sandbox (make the directory first: nano-modal's write does not make parents).
    folder = f"/tmp/{sb.object_id}"
    sb.filesystem.make_directory(folder)
    sb.filesystem.write_text("written from outside", f"{folder}/note.txt")
    print("file:", sb.filesystem.read_text(f"{folder}/note.txt"))
    print("seen by a command:", sb.exec("cat", f"{folder}/note.txt").stdout.read())
    sb.filesystem.remove(folder, recursive=True)
    print("removed:", sb.exec("test", "-e", folder).wait() == 1)
    tagged = [s.object_id for s in modal.Sandbox.list(app_id=app.app_id, tags={"role": "worker"})]
    print("listed by tag:", tagged == [sb.object_id])
    print("from_id sees it running:", modal.Sandbox.from_id(sb.object_id).poll() is None)
    sb.terminate()
    sb.wait(raise_on_termination=False)
    print("terminated returncode:", sb.returncode)

    # A failing command: its exit code.
    sb = modal.Sandbox.create("sh", "-c", "exit 7", app=app)
    sb.wait()
    print("failing returncode:", sb.returncode)
