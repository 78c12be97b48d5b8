"""What a function did: its stats and metrics over a time window, an app's totals, and the tree
of calls a call started from inside its containers.

nano-modal run examples/stats_and_call_graphs.py
"""

import datetime
import time

import nano_modal as modal

app = modal.App("stats-and-call-graphs")


@app.function()
def resize(size: int) -> int:
    time.sleep(0.05)  # the work: each input runs at least this long
    if size < 0:
        raise ValueError("a size cannot be negative")
    return size // 2


@app.function()
def pipeline(sizes: list[int]) -> int:
    # Calls made from inside a container are the children of the input that made them.
    thumbnails = list(resize.map(sizes))
    return sum(thumbnails) + resize.remote(100)


def show(node: modal.types.InputInfo, depth: int = 0) -> None:
    print("  " * depth + f"{node.function_name}: {node.status.name}")
    for child in node.children:
        show(child, depth + 1)


@app.local_entrypoint()
def main() -> None:
    began = datetime.datetime.now(datetime.UTC)
    call = pipeline.spawn([10, 20, 30])
    print("pipeline:", call.get())
    try:
        resize.remote(-1)
    except ValueError as exc:
        print("failed as expected:", exc)

    stats = resize.stats(since=began)
    print(f"resize: {stats.input_success_count} succeeded, {stats.input_failure_count} failed")
    execution = stats.input_percentile_stats["Execution time (s)"]
    p50 = next(p.value for p in execution.percentiles if p.percentile == 50)
    print(f"resize ran its inputs for at least 0.05 s each: {p50 >= 0.05}")
    print(f"containers of resize: {stats.container_total_count} (errors: {stats.container_error_count})")

    # Buckets are whole minutes here; the one `until` falls in is left out (as in Modal): so
    # that the current minute counts, the window ends a minute from now.
    minute = datetime.timedelta(minutes=1)
    until = datetime.datetime.now(datetime.UTC) + minute
    metrics = resize.metrics.export(since=began, until=until, groups=["calls"], bucket_size=minute)
    print("successful calls in the window:", int(sum(p.value or 0 for p in metrics["successful_calls_count"].points)))

    totals = app.stats(since=began).functions
    print("calls by function:", {name: entry.counts.calls.total for name, entry in sorted(totals.items())})

    print("call graph:")
    for root in call.get_call_graph():
        show(root)
