"""What an attacker runs inside a container, as Python sources: each prints one JSON line.

The same sources run in a function's container (through `run_source`) and as a sandbox's
command, so one attack covers both kinds of container.
"""

from __future__ import annotations

# Every file under /proc/sys and /sys that looks writable, written back with the very value
# just read: a host setting is never changed, yet a write that succeeds is a finding.
WRITE_BACK_KERNEL_KNOBS = r"""
import json, os, stat
tops = ["/proc/sys", "/sys", "/proc/sysrq-trigger"]
written, seen, tried = [], 0, 0
for top in tops:
    for root, dirs, files in os.walk(top):
        for name in files if os.path.isdir(top) else []:
            path = os.path.join(root, name)
            seen += 1
            try:
                mode = os.lstat(path).st_mode
                if not stat.S_ISREG(mode) or not mode & 0o222:
                    continue
                with open(path, "rb") as f:
                    value = f.read(1 << 16)
            except OSError:
                continue  # unreadable (e.g. write-only vm/drop_caches): nothing to write back
            tried += 1
            try:
                fd = os.open(path, os.O_WRONLY)
            except OSError:
                continue
            try:
                if os.write(fd, value) > 0 or value == b"":
                    written.append(path)
            except OSError:
                pass
            finally:
                os.close(fd)
print(json.dumps({"seen": seen, "tried": tried, "written": written}))
"""

# Dial a TCP port on the host's loopback (a listener the test opened).
DIAL = r"""
import json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=5).close()
    print(json.dumps("connected"))
except OSError as exc:
    print(json.dumps(f"failed: {type(exc).__name__}: {exc}"))
"""

# The driver the tests run in a subprocess: every source in a function's container (default
# network), in a block_network function, and in a sandbox; name -> kind -> parsed JSON output.
DRIVER = r"""
import json, sys, nano_modal
python, attacks = sys.argv[1], json.loads(sys.argv[2])
app = nano_modal.App("security-attacks")

def _run(source, args):
    import subprocess, sys
    p = subprocess.run([sys.executable, "-c", source, *args], capture_output=True, text=True, timeout=600)
    return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "ERROR " + p.stderr[-2000:]

@app.function(serialized=True, timeout=900)
def run_source(source, args):
    return _run(source, args)

@app.function(serialized=True, timeout=900, block_network=True)
def run_source_blocked(source, args):
    return _run(source, args)

def parse(line):
    try:
        return json.loads(line)
    except ValueError:
        return line

out = {}
with app.run(show_logs=False):
    sandbox = nano_modal.Sandbox.create(app=app, timeout=900)
    for name, source, args in attacks:
        p = sandbox.exec(python, "-c", source, *args)
        stdout, stderr = p.stdout.read(), p.stderr.read()
        p.wait()
        out[name] = {
            "function": parse(run_source.remote(source, args)),
            "blocked_function": parse(run_source_blocked.remote(source, args)),
            "sandbox": parse(stdout.strip().splitlines()[-1] if stdout.strip() else "ERROR " + stderr[-2000:]),
        }
    sandbox.terminate()
print("RESULT " + json.dumps(out))
"""

# Ask the container's routing table about addresses, without sending them anything.
ROUTES = r"""
import json, subprocess, sys
out = {}
for address in sys.argv[1:]:
    p = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)
    out[address] = p.stdout.strip() if p.returncode == 0 else "refused: " + p.stderr.strip()
print(json.dumps(out))
"""

# io_uring_setup(1, params): a ring would let the container do I/O the seccomp filter never sees.
IO_URING = r"""
import ctypes, errno, json, os
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)  # struct io_uring_params
number = {"x86_64": 425, "aarch64": 425}[os.uname().machine]
fd = libc.syscall(number, 1, params)
print(json.dumps("created" if fd >= 0 else "refused: " + errno.errorcode.get(ctypes.get_errno(), "?")))
"""
