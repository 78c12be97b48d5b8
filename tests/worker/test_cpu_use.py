"""worker/cpu_use.py: a spinning container demands a core however crowded the host; a sleeping one none."""

from __future__ import annotations

import subprocess
import sys
import time

from nano_modal.worker.cpu_use import CpuSampler, process_tree


def test_demand_tells_a_cpu_bound_process_from_a_sleeping_one() -> None:
    # Each behind a shell, as a container is behind its wrappers: the sampler follows the tree.
    spin = subprocess.Popen(["/bin/sh", "-c", f"{sys.executable} -c 'while True: pass'; true"])
    sleep = subprocess.Popen(
        ["/bin/sh", "-c", f"{sys.executable} -c 'import time; print(1, flush=True); time.sleep(60)'; true"],
        stdout=subprocess.PIPE,
    )
    try:
        # Sampled once the sleeper sleeps: its interpreter's start-up (and, on a loaded host, the
        # wait to run it) is demand too, and was 0.8 core of a 0.5 s window in one CI run.
        assert sleep.stdout is not None and sleep.stdout.readline()
        deadline = time.monotonic() + 60
        while len(process_tree(spin.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        sampler = CpuSampler()
        roots = {"spin": spin.pid, "sleep": sleep.pid}
        assert sampler.sample(roots) is None  # nothing to compare with yet
        time.sleep(0.5)
        measured = sampler.sample(roots)
        assert measured is not None
        host_busy, demand = measured
        assert 0.0 <= host_busy <= sampler.cores + 0.01
        assert demand["spin"] >= 0.5, demand  # ran or waited to run: ~1 core even on a loaded host
        assert demand["sleep"] < 0.5, demand
    finally:
        for proc in (spin, sleep):
            subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
            proc.kill()
            proc.wait()
