"""Cold starts: a new function's first call, and the embedded start-up, against Ray and Pool.

    python bench/bench_cold_start.py [--quick] [--json FILE]

Part 1, new function, server already up (one process, everything warm but the function):
  * nano-modal: a new App with a never-seen function (distinct code each time);
    timed: `app.run()` entry (AppCreate + FunctionCreate + pickle upload), then the first
    `.remote()` to its result (container start + load), then a second, warm call.
  * Ray: a new `@ray.remote` function's first call on warm workers; a new actor's first
    method call (a new worker process, the closest analogue of a container).
  * Pool: `Pool(1)` creation + first `apply` (fork, and spawn = fresh interpreter);
    measured just before the others, while this process has no gRPC/Ray threads to fork.

Part 2, embedded start-up (a fresh interpreter per sample, run as a subprocess):
  * nano-modal: from `app.run()` entry (which starts server + worker) to the first result,
    and from process launch to the first result.
  * Ray: `ray.init()` to the first task's result, and from process launch.
  * Pool: `Pool(2)` to the first `apply` result (fork and spawn), and from process launch.

Reference lines: bare interpreter start, and interpreter + the imports of a container.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import _common as c

CHILD_NANO = """
import time, json
t_start = time.perf_counter()
import nano_modal
app = nano_modal.App("cold-embedded")
@app.function()
def f(x):
    return x + 1
t_import = time.perf_counter()
with app.run(show_logs=False):
    t_run = time.perf_counter()
    assert f.remote(1) == 2
    t_first = time.perf_counter()
    print(json.dumps({"import": t_import - t_start, "run_enter": t_run - t_import,
                      "first_call": t_first - t_run, "startup_to_result": t_first - t_import,
                      "in_process": t_first - t_start}), flush=True)
"""

CHILD_RAY = """
import time, json, logging
t_start = time.perf_counter()
import ray
t_import = time.perf_counter()
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
         object_store_memory=512 * 2**20)
t_run = time.perf_counter()
@ray.remote
def f(x):
    return x + 1
assert ray.get(f.remote(1)) == 2
t_first = time.perf_counter()
print(json.dumps({"import": t_import - t_start, "run_enter": t_run - t_import, "first_call": t_first - t_run,
                  "startup_to_result": t_first - t_import, "in_process": t_first - t_start}), flush=True)
ray.shutdown()
"""

CHILD_POOL = """
import time, json, multiprocessing, sys
def f(x):
    return x + 1
if __name__ == "__main__":
    t_start = time.perf_counter()
    ctx = multiprocessing.get_context(sys.argv[1])
    t_import = time.perf_counter()
    with ctx.Pool(2) as pool:
        t_run = time.perf_counter()
        assert pool.apply(f, (1,)) == 2
        t_first = time.perf_counter()
        print(json.dumps({"import": t_import - t_start, "run_enter": t_run - t_import, "first_call": t_first - t_run,
                          "startup_to_result": t_first - t_import, "in_process": t_first - t_start}), flush=True)
"""


def pool_apply_one(x: int) -> int:
    return x + 1


def run_child(code: str, workdir: Path, *argv: str) -> dict[str, float]:
    """Run a fresh interpreter; add the wall time from launch to its result line."""
    script = workdir / f"child_{abs(hash(code))}.py"
    script.write_text(textwrap.dedent(code))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    launch_to_result = time.perf_counter() - t0
    _, err = proc.communicate(timeout=120)
    if not line.strip():
        raise RuntimeError(f"child failed: {err[-3000:]}")
    out = json.loads(line)
    out["launch_to_result"] = launch_to_result
    return out


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


def part_new_pool(k: int) -> dict[str, dict[str, list[float]]]:
    """Pool(1) + first apply; run before this process has gRPC or Ray threads (fork-safety)."""
    out: dict[str, dict[str, list[float]]] = {}
    for _ in range(k):
        for method in ("fork", "spawn"):
            t0 = time.perf_counter()
            pool = multiprocessing.get_context(method).Pool(1)
            pool.apply(pool_apply_one, (1,))
            t1 = time.perf_counter()
            pool.apply(pool_apply_one, (1,))
            t2 = time.perf_counter()
            pool.close()
            pool.join()
            entry = out.setdefault(f"Pool(1) {method}", {"first_call": [], "warm_call": []})
            entry["first_call"].append(t1 - t0)
            entry["warm_call"].append(t2 - t1)
    return out


def part_new_function(k: int, ray: Any) -> dict[str, dict[str, list[float]]]:
    import nano_modal

    out: dict[str, dict[str, list[float]]] = {
        "nano-modal": {"run_enter": [], "first_call": [], "warm_call": []},
    }
    if ray is not None:
        out["Ray new task function"] = {"first_call": [], "warm_call": []}
        out["Ray new actor"] = {"first_call": [], "warm_call": []}

    # Bring the embedded server and worker up (and warm their code paths) once.
    warm = nano_modal.App("cold-warmup")
    warm_f = warm.function(name="warm")(pool_apply_one)
    with warm.run(show_logs=False):
        warm_f.remote(1)

    for i in range(k):
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(f"def cold_{i}(x):\n    return x + {i + 1}\n", namespace)  # new code: a new pickle, a new blob
        raw = namespace[f"cold_{i}"]
        app = nano_modal.App(f"cold-{i}")
        fn = app.function(name=f"cold_{i}")(raw)
        t0 = time.perf_counter()
        with app.run(show_logs=False):
            t1 = time.perf_counter()
            assert fn.remote(1) == i + 2
            t2 = time.perf_counter()
            fn.remote(1)
            t3 = time.perf_counter()
        out["nano-modal"]["run_enter"].append(t1 - t0)
        out["nano-modal"]["first_call"].append(t2 - t1)
        out["nano-modal"]["warm_call"].append(t3 - t2)

        if ray is not None:
            rf = ray.remote(raw)
            t0 = time.perf_counter()
            ray.get(rf.remote(1))
            t1 = time.perf_counter()
            ray.get(rf.remote(1))
            t2 = time.perf_counter()
            out["Ray new task function"]["first_call"].append(t1 - t0)
            out["Ray new task function"]["warm_call"].append(t2 - t1)

            cls = ray.remote(type(f"Actor{i}", (), {"f": lambda self, x, _raw=raw: _raw(x)}))
            t0 = time.perf_counter()
            actor = cls.remote()
            ray.get(actor.f.remote(1))
            t1 = time.perf_counter()
            ray.get(actor.f.remote(1))
            t2 = time.perf_counter()
            ray.kill(actor)
            out["Ray new actor"]["first_call"].append(t1 - t0)
            out["Ray new actor"]["warm_call"].append(t2 - t1)

        c.console.print(f"[dim]new function {i + 1}/{k} done[/dim]")
    return out


def main() -> None:
    args = c.parse_args(__doc__.splitlines()[0])
    k, reps = (3, 2) if args.quick else (10, 5)
    home = c.temp_home()
    workdir = home / "children"
    workdir.mkdir()

    # Part 2 first, while this process has no server and no Ray of its own.
    startup: dict[str, list[dict[str, float]]] = {
        "nano-modal (embedded)": [],
        "Ray (ray.init)": [],
        "Pool(2) fork": [],
        "Pool(2) spawn": [],
    }
    for r in range(reps):
        startup["nano-modal (embedded)"].append(run_child(CHILD_NANO, workdir))
        if _has_ray():
            startup["Ray (ray.init)"].append(run_child(CHILD_RAY, workdir))
        startup["Pool(2) fork"].append(run_child(CHILD_POOL, workdir, "fork"))
        startup["Pool(2) spawn"].append(run_child(CHILD_POOL, workdir, "spawn"))
        c.console.print(f"[dim]start-up rep {r + 1}/{reps} done[/dim]")
    startup = {k_: v for k_, v in startup.items() if v}

    refs = {
        "python -c pass": [wall([sys.executable, "-c", "pass"]) for _ in range(reps)],
        "python -c 'import nano_modal.container.entrypoint'": [
            wall([sys.executable, "-c", "import nano_modal.container.entrypoint"]) for _ in range(reps)
        ],
        "python -c 'import nano_modal.server.main'": [
            wall([sys.executable, "-c", "import nano_modal.server.main"]) for _ in range(reps)
        ],
        "python -c 'import nano_modal.worker.main'": [
            wall([sys.executable, "-c", "import nano_modal.worker.main"]) for _ in range(reps)
        ],
    }

    new_pool = part_new_pool(k)
    ray = c.start_ray()
    new_fn = {**part_new_function(k, ray), **new_pool}
    if ray is not None:
        ray.shutdown()

    # ---- report
    rows = []
    for name, parts in new_fn.items():
        rows.append(
            [
                name,
                c.fmt_s(c.median(parts["run_enter"])) if "run_enter" in parts else "-",
                c.fmt_s(c.median(parts["first_call"])),
                c.fmt_s(c.percentile(parts["first_call"], 90)),
                c.fmt_us(c.median(parts["warm_call"])),
                "1.00x"
                if name == "nano-modal"
                else c.ratio(c.median(new_fn["nano-modal"]["first_call"]), c.median(parts["first_call"])),
            ]
        )
    c.table(
        f"New function, server already up: first call to result (median of {k})",
        ["peer", "app.run() entry", "first call p50", "first call p90", "then a warm call", "nano ÷ peer (first call)"],
        rows,
        caption="nano-modal first call = container process start + imports + ContainerHello + load + run; "
        "Pool rows include creating the pool",
    )

    rows = []
    for name, samples in startup.items():
        med = {key: c.median(s[key] for s in samples) for key in samples[0]}
        rows.append(
            [
                name,
                c.fmt_s(med["import"]),
                c.fmt_s(med["run_enter"]),
                c.fmt_s(med["first_call"]),
                c.fmt_s(med["startup_to_result"]),
                c.fmt_s(med["launch_to_result"]),
                "1.00x"
                if name.startswith("nano")
                else c.ratio(
                    c.median(s["startup_to_result"] for s in startup["nano-modal (embedded)"]), med["startup_to_result"]
                ),
            ]
        )
    c.table(
        f"Start-up in a fresh interpreter (median of {reps})",
        [
            "system",
            "import",
            "start (app.run / ray.init / Pool())",
            "then first call",
            "start-up to result",
            "process launch to result",
            "nano ÷ peer (start-up)",
        ],
        rows,
        caption="nano-modal 'start' = spawn server, wait for its port, spawn worker, Hello, AppCreate, FunctionCreate",
    )
    c.table(
        f"Reference: interpreter start and imports (median of {reps})",
        ["command", "wall"],
        [[cmd, c.fmt_s(c.median(v))] for cmd, v in refs.items()],
    )
    c.write_json(
        args.json, "cold_start", {"new_function": new_fn, "startup": startup, "reference": refs, "k": k, "reps": reps}
    )


def _has_ray() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("ray") is not None
    except ImportError:
        return False


if __name__ == "__main__":
    main()
