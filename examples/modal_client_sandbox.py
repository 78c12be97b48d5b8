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
    # One f-string per line: print(a, b) writes its pieces apart, and `modal run` writes the app's
    # log (the sandboxes' own output) to the same stdout, maybe between them.
    # A command with output; the sandbox ends when it does.
    sb = modal.Sandbox.create("sh", "-c", "echo hello from a sandbox in $(pwd)", app=app, workdir="/tmp", timeout=60)
    print(f"stdout: {sb.stdout.read().strip()}")
    sb.wait()
    print(f"returncode: {sb.returncode}")

    # Stdin in, stdout back.
    sb = modal.Sandbox.create("python", "-c", "import sys; print(sys.stdin.read().upper())", app=app)
    sb.stdin.write(b"round trip")
    sb.stdin.write_eof()
    sb.stdin.drain()
    print(f"echoed: {sb.stdout.read().strip()}")
    sb.wait()

    # A long-lived sandbox: commands run in it with exec, each with its own output and exit code.
    greeting = modal.Secret.from_dict({"GREETING": "hi"})
    sb = modal.Sandbox.create("sleep", "600", app=app, secrets=[greeting])
    sb.set_tags({"role": "worker"})
    print(f"poll while running: {sb.poll()}")
    p = sb.exec("sh", "-c", "echo $GREETING from the sandbox; echo oops >&2; exit 3")
    print(f"exec stdout: {p.stdout.read().strip()}")
    print(f"exec stderr: {p.stderr.read().strip()}")
    print(f"exec exit code: {p.wait()}")
    p = sb.exec("sh", "-c", "echo $WHO $LEVEL", env={"WHO": "exec"}, secrets=[modal.Secret.from_dict({"LEVEL": "2"})])
    print(f"exec env and secrets: {p.stdout.read().strip()}")
    p = sb.exec("python", "-c", "import sys; sys.stdout.write(sys.stdin.read()[::-1])")
    p.stdin.write(b"olleh")
    p.stdin.write_eof()
    p.stdin.drain()
    print(f"exec stdin: {p.stdout.read()}")
    # Files in the sandbox (make the directory first: nano-modal's write does not make parents).
    folder = f"/tmp/{sb.object_id}"
    sb.filesystem.make_directory(folder)
    sb.filesystem.write_text("written from outside", f"{folder}/note.txt")
    note = f"{folder}/note.txt"
    print(f"file: {sb.filesystem.read_text(note)}")
    print(f"seen by a command: {sb.exec('cat', note).stdout.read()}")
    sb.filesystem.remove(folder, recursive=True)
    print(f"removed: {sb.exec('test', '-e', folder).wait() == 1}")
    tagged = [s.object_id for s in modal.Sandbox.list(app_id=app.app_id, tags={"role": "worker"})]
    print(f"listed by tag: {tagged == [sb.object_id]}")
    print(f"from_id sees it running: {modal.Sandbox.from_id(sb.object_id).poll() is None}")
    sb.terminate()
    sb.wait(raise_on_termination=False)
    print(f"terminated returncode: {sb.returncode}")

    # A failing command: its exit code.
    sb = modal.Sandbox.create("sh", "-c", "exit 7", app=app)
    sb.wait()
    print(f"failing returncode: {sb.returncode}")
