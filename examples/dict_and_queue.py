"""Shared state between functions: a Dict as a cache and a lock table, Queues as a work pipeline.

    nano-modal run examples/dict_and_queue.py

Objects are passed to functions like any argument (they travel by id), or looked up by
name anywhere with `from_name`. Every single-key Dict operation and every Queue get is
atomic, however many containers use them at once.
"""

import time

import nano_modal as modal

app = modal.App("dict-and-queue")

# A named Dict: any process (or container) that says this name gets the same one.
counters = modal.Dict.from_name("example-counters", create_if_missing=True)


@app.function()
def fib(cache: modal.Dict, n: int) -> int:
    """Memoized in the Dict: later calls, in any container, reuse earlier results."""
    if n < 2:
        return n
    if (hit := cache.get(n)) is not None:
        return hit
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    cache[n] = b
    return b


@app.function(max_containers=3)
def claim(locks: modal.Dict, worker: int) -> list[str]:
    """Each job goes to exactly one worker: put(skip_if_exists=True) is an atomic test-and-set."""
    return [job for job in ("a", "b", "c", "d", "e", "f") if locks.put(job, worker, skip_if_exists=True)]


@app.function(max_containers=3)
def square_worker(jobs: modal.Queue, results: modal.Queue) -> int:
    """Take numbers until a None arrives; put their squares on the results queue."""
    done = 0
    while (n := jobs.get(timeout=60)) is not None:
        results.put((n, n * n))
        done += 1
    return done


@app.local_entrypoint()
def main() -> None:
    with modal.Dict.ephemeral() as cache:
        print("fib(90) =", fib.remote(cache, 90))
        print("fib(90) again, from the cache:", fib.remote(cache, 90), f"({cache.len()} cached)")
        # An id is a handle another process can open (`modal.Dict.from_id`), as a name is.
        print("the same Dict by its id:", modal.Dict.from_id(cache.object_id).get(90))

    with modal.Dict.ephemeral() as locks:
        claimed = [job for jobs in claim.map([locks] * 3, range(3)) for job in jobs]
        print("every job claimed exactly once:", sorted(claimed) == ["a", "b", "c", "d", "e", "f"])

    with modal.Queue.ephemeral() as jobs, modal.Queue.ephemeral() as results:
        workers = [square_worker.spawn(jobs, results) for _ in range(3)]
        jobs.put_many(list(range(20)))
        jobs.put_many([None] * len(workers))  # one stop signal per worker
        handled = sum(w.get() for w in workers)
        squares = dict(results.get_many(100))
        print(f"{handled} jobs handled; sum of squares = {sum(squares.values())}")
        print("results left in the queue:", results.len())
        jobs.put("x", partition="side")  # partitions are independent FIFO queues
        print("partitions:", jobs.len(), jobs.len(partition="side"), jobs.len(total=True))
        jobs.put("short-lived", partition="scratch", partition_ttl=1)  # cleared 1 s after its last put
        time.sleep(3)
        print("after its partition_ttl:", jobs.len(partition="scratch"))
    # The client every call here uses: the server this process is configured for (from_env).
    client = modal.Client.from_env()
    client.hello()
    print("the counters' client is the process's:", counters.hydrate().client is client)
    # get-then-set is two operations: fine here, with one writer; concurrent counters need one key each.
    counters["runs"] = counters.get("runs", 0) + 1
    print("runs of this example recorded on this server:", counters["runs"])
