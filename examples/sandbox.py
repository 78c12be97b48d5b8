"""Sandboxes: start a container at runtime and run untrusted commands in it.

    nano-modal run examples/sandbox.py

A sandbox holds no credential for the platform, sees only its own files, and (with
block_network=True) has no network. Here: run code "generated" at runtime, stream its
output, talk to it over stdin, move files in and out, watch them change, and clean up.
"""

import socket
import time

import httpx

import nano_modal as modal
from nano_modal.stream_type import StreamType
from nano_modal.types import FileWatchEventType

app = modal.App("sandbox-demo")

GENERATED_CODE = """
import sys
total = 0
for line in sys.stdin:
    total += int(line)
    print(f"running total: {total}", flush=True)
"""


def free_port() -> int:
    """Any port will do; a free one, because the `process` runtime shares this machine's ports."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@app.local_entrypoint()
def main() -> None:
    sb = modal.Sandbox.create(app=app, timeout=120, block_network=True, name="demo")
    sb.set_tags({"purpose": "demo"})
    print("created", sb.object_id)

    # Output streams while the command runs.
    p = sb.exec("bash", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.1; done")
    for line in p.stdout:
        print("streamed:", line.strip())
    print("exit code:", p.wait())
    # Or printed here as it comes (StreamType.STDOUT), or dropped (StreamType.DEVNULL).
    sb.exec("echo", "printed directly", stdout=StreamType.STDOUT, stderr=StreamType.DEVNULL).wait()

    # Files in, code run on them, results out.
    with sb.open("/tmp/sum.py", "w") as f:
        f.write(GENERATED_CODE)
    p = sb.exec("python3", "/tmp/sum.py")
    for n in (5, 10, 27):
        p.stdin.write(f"{n}\n")
    p.stdin.write_eof()
    p.stdin.drain()
    print(p.stdout.read().strip().splitlines()[-1])

    sb.mkdir("/tmp/out")
    sb.exec("bash", "-c", "echo report > /tmp/out/report.txt").wait()
    print("files:", sb.ls("/tmp/out"), "->", sb.open("/tmp/out/report.txt").read().strip())

    # No way out: no network, no credential in its environment.
    probe = sb.exec("python3", "-c", "import os, socket; print(sorted(k for k in os.environ if 'TOKEN' in k)); "
                    "socket.create_connection(('1.1.1.1', 53), timeout=2)")  # fmt: skip
    print("tokens visible inside:", probe.stdout.read().strip(), "| network:", "blocked" if probe.wait() else "open")

    found = [s.object_id for s in modal.Sandbox.list(app_id=app.app_id, tags={"purpose": "demo"})]
    print("found by tag:", found == [sb.object_id], "| by name:", modal.Sandbox.from_name("sandbox-demo", "demo"))

    # A directory of one sandbox as an image (snapshot_directory), shown in another while it
    # runs (mount_image) and taken away again (unmount_image). On bwrap workers.
    project = sb.snapshot_directory("/tmp/out")
    other = modal.Sandbox.create(app=app, timeout=60)
    other.mount_image("/tmp/project", project)
    print("mounted:", other.ls("/tmp/project"), "->", other.open("/tmp/project/report.txt").read().strip())
    other.unmount_image("/tmp/project")
    print("after unmount_image:", other.ls("/tmp/project"))
    other.terminate()

    # Its files' changes as they happen (the sandbox's agent watches with inotify): a job's progress.
    sb.filesystem.make_directory("/tmp/progress")
    sb.exec("sh", "-c", "for i in $(seq 1 600); do touch /tmp/progress/step-$i; sleep 0.1; done")
    for event in sb.filesystem.watch("/tmp/progress", filter=[FileWatchEventType.Create], timeout=60):
        print("watched:", event.type.name, "of a step:", event.paths[0].startswith("/tmp/progress/step-"))
        break  # stops the watch in the sandbox too

    sb.terminate()
    sb.wait(raise_on_termination=False)
    print("terminated, returncode", sb.returncode)
    stats = sb._experimental_stats()  # its run, and the cores it reserved for it
    print("ran:", stats.duration.total_seconds() > 0, "| billed core-seconds:", stats.billed_cpu_core_seconds > 0)

    # A sandbox running a command of its own: what the command printed stays in the app's logs.
    job = modal.Sandbox.create("sh", "-c", "echo job done", app=app, timeout=60)
    job.wait()
    for _ in range(50):  # the lines reach the server's store a moment after the sandbox exits
        printed = [entry.message.strip() for entry in job.logs.tail()]
        if printed:
            break
        time.sleep(0.1)
    print("job's logs:", printed)

    # A web server in a sandbox, reached from here over HTTP through the server's gateway.
    port = free_port()
    web = modal.Sandbox.create(
        "python3", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", "/tmp",
        app=app, timeout=120, encrypted_ports=[port], readiness_probe=modal.Probe.with_tcp(port),
    )  # fmt: skip
    web.filesystem.write_text("served from a sandbox", "/tmp/index.txt")
    web.wait_until_ready()
    url = web.tunnels()[port].url
    print("through the tunnel:", httpx.get(f"{url}/index.txt", timeout=30).text)
    # Or with a token per caller: the server in the sandbox gets its metadata as X-Verified-User-Data.
    creds = web.create_connect_token(user_metadata={"user": "ada"}, port=port)
    with_token = httpx.get(f"{creds.url}/index.txt", headers={"Authorization": f"Bearer {creds.token}"}, timeout=30)
    without = httpx.get(f"{creds.url}/index.txt", timeout=30)
    print("connect token:", with_token.status_code, "| without:", without.status_code)
    web.terminate()
