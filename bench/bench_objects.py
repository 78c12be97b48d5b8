"""State and storage: Dict and Queue against a local Redis, Volume against the raw disk.

    python bench/bench_objects.py [--quick] [--json FILE] [--mb N]

Needs `redis-server` (apt-get install -y redis-server) and redis-py (pip install redis);
without them the Redis rows are skipped. Everything runs on this machine, in one run:

* Dict: sequential put / get (one client thread), then 8 client threads at once. Peer:
  redis-py SET / GET of the same pickled values on a redis-server started on a free
  loopback port (no persistence; nano-modal's Dict writes every put to SQLite first).
* Queue: 4 producer and 4 consumer threads move N items, one put / get per item, and
  again in batches of 100 (put_many / get_many). Peer: redis-py LPUSH / BRPOP (and
  pipelined LPUSH / LPOP count=100).
* Queue items in the state store (default) vs in Redis (`server --queue redis://...`, a
  second server on a redis-server with `appendonly yes, appendfsync always`, as deployed):
  sequential put then get from one thread, and the 4+4 threads runs above. `--queues-only`
  runs just this comparison.
* Volume: inside a container (process runtime), write N MiB through the mount (fsync'd),
  commit, read back (best of 3); and from the client, batch_upload and read_file. Peer:
  the same write+fsync / read on the same disk directly from this process.
* CPU per sequential operation, client and server process: steadier than the rates when
  the machine is busy.
"""

from __future__ import annotations

import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

# ------------------------------------------------------------------ peers


class RedisPeer:
    def __init__(self, fsync: str | None = None) -> None:
        """fsync ("always", "everysec"): with an append-only file (as nano-modal's --queue deployment
        runs Redis) fsync'd that often; None: no persistence."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Any = None
        binary = shutil.which("redis-server")
        try:
            import redis
        except ImportError:
            c.console.print("[yellow]redis-py is not installed (pip install redis): skipping Redis[/yellow]")
            return
        if binary is None:
            c.console.print("[yellow]redis-server not found (apt-get install -y redis-server): skipping Redis[/yellow]")
            return
        port = c.free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        persistence = ["--appendonly", "no"]
        if fsync:
            data = tempfile.mkdtemp(prefix="nano-modal-bench-redis-")
            persistence = ["--appendonly", "yes", "--appendfsync", fsync, "--dir", data]
        self.proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def connect(self) -> Any:
        """A connection for one thread (redis-py pools internally; this mirrors one client each)."""
        import redis

        return redis.Redis(connection_pool=self.client.connection_pool)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def start_cluster(state_dir: Path) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Server + one worker on the process runtime, so that the volume test writes to the real disk."""
    server, url, token = c.start_server(state_dir)
    env = {**os.environ, "NANO_MODAL_TOKEN": token}
    env.pop("NANO_MODAL_SERVER_URL", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "nano_modal.worker", "--server", url, "--runtime", "process", "--quiet"],
        env=env,
        stdout=(state_dir / "worker.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    use_server(url, token)
    return server, worker


def use_server(url: str, token: str) -> None:
    """Point the SDK in this process at that server."""
    from nano_modal.client import Client

    os.environ["NANO_MODAL_SERVER_URL"] = url
    os.environ["NANO_MODAL_TOKEN"] = token
    Client.reset()


# ------------------------------------------------------------------ helpers


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def threaded(n_threads: int, work: Callable[[int], Any]) -> float:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ Dict


def bench_dict(nm: Any, redis: RedisPeer, n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    value = {"payload": "x" * 100, "n": 1}
    blob = pickle.dumps(value)
    per = n // 8
    d = nm.Dict.from_name("bench-dict", create_if_missing=True)
    d["warm"] = 1
    nano: dict[str, Callable[[], float]] = {
        "put": lambda: rate(n, timed(lambda: [d.put(i, value) for i in range(n)])),
        "get": lambda: rate(n, timed(lambda: [d.get(i) for i in range(n)])),
        "put x8 threads": lambda: rate(per * 8, threaded(8, lambda t: [d.put((t, i), value) for i in range(per)])),
        "get x8 threads": lambda: rate(per * 8, threaded(8, lambda t: [d.get((t, i)) for i in range(per)])),
    }
    peer: dict[str, Callable[[], float]] = {}
    if redis.client is not None:
        r = redis.client
        conns = [redis.connect() for _ in range(8)]
        peer = {
            "put": lambda: rate(n, timed(lambda: [r.set(f"k{i}", blob) for i in range(n)])),
            "get": lambda: rate(n, timed(lambda: [pickle.loads(r.get(f"k{i}")) for i in range(n)])),
            "put x8 threads": lambda: rate(
                per * 8, threaded(8, lambda t: [conns[t].set(f"k{t}-{i}", blob) for i in range(per)])
            ),
            "get x8 threads": lambda: rate(
                per * 8, threaded(8, lambda t: [pickle.loads(conns[t].get(f"k{t}-{i}")) for i in range(per)])
            ),
        }
    out: dict[str, dict[str, list[float]]] = {"nano-modal Dict": {}, "Redis": {}}
    for _ in range(rounds):  # interleaved, so that a noisy neighbour hits both alike
        for op, measure in nano.items():
            out["nano-modal Dict"].setdefault(op, []).append(measure())
            if op in peer:
                out["Redis"].setdefault(op, []).append(peer[op]())
    return out


def cpu_per_op(nm: Any, redis: RedisPeer, server_pid: int, n: int) -> dict[str, dict[str, float]]:
    """CPU microseconds per sequential op, client and server side: steadier than rates on a busy machine."""
    value = {"payload": "x" * 100, "n": 1}
    blob = pickle.dumps(value)
    d = nm.Dict.from_name("bench-dict", create_if_missing=True)
    q = nm.Queue.from_name("bench-cpu-q", create_if_missing=True)
    q.hydrate()
    from nano_modal._utils.aio import run_blocking
    from nano_modal.client import Client
    from nano_modal.proto import api_pb2

    client = run_blocking(Client.get())

    async def hello() -> None:
        await client.stub.Hello(api_pb2.HelloRequest())

    cases: list[tuple[str, int, Callable[[], Any]]] = [
        # The floor: an RPC that does nothing, through the same blocking SDK path.
        ("nano-modal empty RPC (Hello)", server_pid, lambda: [run_blocking(hello()) for _ in range(n)]),
        ("nano-modal Dict put", server_pid, lambda: [d.put(i % 100, value) for i in range(n)]),
        ("nano-modal Dict get", server_pid, lambda: [d.get(i % 100) for i in range(n)]),
        ("nano-modal Queue put", server_pid, lambda: [q.put(i) for i in range(n)]),
        ("nano-modal Queue get", server_pid, lambda: [q.get() for _ in range(n)]),
    ]
    if redis.client is not None and redis.proc is not None:
        r = redis.client
        cases += [
            ("Redis SET", redis.proc.pid, lambda: [r.set(f"k{i % 100}", blob) for i in range(n)]),
            ("Redis GET", redis.proc.pid, lambda: [pickle.loads(r.get(f"k{i % 100}")) for i in range(n)]),
        ]
    out = {}
    for name, pid, work in cases:
        server0, client0, wall0 = c.cpu_seconds(pid), time.process_time(), time.perf_counter()
        work()
        out[name] = {
            "client_us": (time.process_time() - client0) / n * 1e6,
            "server_us": (c.cpu_seconds(pid) - server0) / n * 1e6,
            "wall_us": (time.perf_counter() - wall0) / n * 1e6,
        }
    return out


# ------------------------------------------------------------------ Queue


def queue_rate(nm: Any, per: int, batch: int) -> float:
    """4 producers put `per` items each while 4 consumers take them; items per second end to end."""
    q = nm.Queue.from_name(f"bench-q-{secrets.token_hex(4)}", create_if_missing=True)
    q.hydrate()
    taken = [0] * 4

    def producer(i: int) -> None:
        items = [(i, j) for j in range(per)]
        for start in range(0, per, batch):
            if batch == 1:
                q.put(items[start])
            else:
                q.put_many(items[start : start + batch])

    def consumer(i: int) -> None:
        while taken[i] < per:  # each consumer takes its share (FIFO: which items does not matter)
            got = [q.get(timeout=60)] if batch == 1 else q.get_many(min(batch, per - taken[i]), timeout=60)
            taken[i] += len(got)

    seconds = threaded(8, lambda t: producer(t) if t < 4 else consumer(t - 4))
    assert sum(taken) == per * 4 and q.len() == 0
    return rate(per * 4, seconds)


def queue_sequential(nm: Any, n: int) -> dict[str, float]:
    """One thread: n puts, then n gets (operations per second)."""
    q = nm.Queue.from_name(f"bench-seq-{secrets.token_hex(4)}", create_if_missing=True)
    q.put("warm")
    q.get()
    put = rate(n, timed(lambda: [q.put(i) for i in range(n)]))
    get = rate(n, timed(lambda: [q.get() for _ in range(n)]))
    return {"put, 1 thread": put, "get, 1 thread": get}


def bench_queue_storage(nm: Any, home: Path, n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """The same Queue runs on a server with items in its SQLite store (WAL, synchronous=NORMAL: no
    fsync per commit) and on servers with --queue on Redis fsyncing every write, or every second."""
    peers = {fsync: RedisPeer(fsync=fsync) for fsync in ("always", "everysec")}
    if any(p.proc is None for p in peers.values()):
        return {}
    procs = []
    servers: dict[str, tuple[str, str]] = {}
    for name, extra in [("store (SQLite)", [])] + [
        (f"Redis, fsync {fsync}", ["--queue", peer.url]) for fsync, peer in peers.items()
    ]:
        proc, url, token = c.start_server(home / f"server-{len(procs)}", *extra)
        procs.append(proc)
        servers[name] = (url, token)
    out: dict[str, dict[str, list[float]]] = {name: {} for name in servers}
    try:
        for _ in range(rounds):  # interleaved, so that a noisy neighbour hits both alike
            for name, (url, token) in servers.items():
                use_server(url, token)
                for op, value in queue_sequential(nm, n).items():
                    out[name].setdefault(op, []).append(value)
                out[name].setdefault("1 item per call, 4+4 threads", []).append(queue_rate(nm, n // 4, 1))
                out[name].setdefault("100 items per call, 4+4 threads", []).append(queue_rate(nm, n // 4, 100))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        for peer in peers.values():
            peer.stop()
    return out


def bench_queue(nm: Any, redis: RedisPeer, n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """4 producers put n items in total while 4 consumers take them; items per second end to end."""
    out: dict[str, dict[str, list[float]]] = {"nano-modal Queue": {}, "Redis": {}}
    per = n // 4

    def run_redis(batch: int) -> float:
        key = f"bench-q-{secrets.token_hex(4)}"
        conns = [redis.connect() for _ in range(8)]
        taken = [0] * 4

        def producer(i: int) -> None:
            r = conns[i]
            items = [pickle.dumps((i, j)) for j in range(per)]
            for start in range(0, per, batch):
                if batch == 1:
                    r.lpush(key, items[start])
                else:
                    r.lpush(key, *items[start : start + batch])

        def consumer(i: int) -> None:
            r = conns[4 + i]
            while taken[i] < per:
                if batch == 1:
                    _, value = r.brpop(key, timeout=60)
                    pickle.loads(value)
                    taken[i] += 1
                else:
                    values = r.rpop(key, min(batch, per - taken[i]))
                    if not values:
                        time.sleep(0.0005)  # redis has no blocking multi-pop in this version of the API
                        continue
                    for v in values:
                        pickle.loads(v)
                    taken[i] += len(values)

        seconds = threaded(8, lambda t: producer(t) if t < 4 else consumer(t - 4))
        return rate(per * 4, seconds)

    for _ in range(rounds):
        out["nano-modal Queue"].setdefault("1 item per call", []).append(queue_rate(nm, per, 1))
        out["nano-modal Queue"].setdefault("100 items per call", []).append(queue_rate(nm, per, 100))
        if redis.client is not None:
            out["Redis"].setdefault("1 item per call", []).append(run_redis(1))
            out["Redis"].setdefault("100 items per call", []).append(run_redis(100))
    return out


# ------------------------------------------------------------------ Volume


def volume_in_container(mount: str, megabytes: int) -> dict[str, float]:
    """Runs in a container: write through the mount (fsync'd), commit, read back."""
    import nano_modal

    vol = nano_modal.Volume.from_name("bench-volume")
    path = Path(mount) / f"blob-{os.getpid()}-{time.time_ns()}.bin"
    write = write_fsynced(path, megabytes)
    t1 = time.perf_counter()
    vol.commit()
    t2 = time.perf_counter()
    read = best_read(path)
    path.unlink()
    vol.commit()
    return {"write": megabytes / write, "commit": megabytes / (t2 - t1), "read": megabytes / read}


def write_fsynced(path: Path, megabytes: int) -> float:
    """Seconds to write `megabytes` of random data to `path` and fsync it."""
    block = os.urandom(1 << 20)
    t0 = time.perf_counter()
    with path.open("wb") as f:
        for _ in range(megabytes):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t0


def best_read(path: Path, times: int = 3) -> float:
    """Seconds for the fastest of a few full reads (a short read is at the mercy of the scheduler)."""
    best = float("inf")
    for _ in range(times):
        t0 = time.perf_counter()
        with path.open("rb") as f:
            while f.read(1 << 20):
                pass
        best = min(best, time.perf_counter() - t0)
    return best


def raw_disk(directory: Path, megabytes: int) -> dict[str, float]:
    path = directory / f"raw-{time.time_ns()}.bin"
    write = write_fsynced(path, megabytes)
    read = best_read(path)
    path.unlink()
    return {"write": megabytes / write, "read": megabytes / read}


def bench_volume(nm: Any, home: Path, megabytes: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {
        "nano-modal Volume (in a container)": {},
        "raw disk": {},
        "nano-modal Volume (client API)": {},
    }
    vol = nm.Volume.from_name("bench-volume", create_if_missing=True)
    mount = str(home / "mnt" / "data")
    app = nm.App("bench-objects")
    # Enough memory that the container's cgroup can keep the file in the page cache, as this
    # process can (with the default 128 MiB, reads of a 256 MiB file go to the disk).
    fn = app.function(volumes={mount: vol}, serialized=True, timeout=600, cpu=1.0, memory=2048)(volume_in_container)
    local = home / "local-file.bin"
    local.write_bytes(os.urandom(megabytes << 20))
    with app.run(show_logs=False):
        fn.remote(mount, 1)  # warm: container started, volume mounted
        for r in range(rounds):
            for k, v in fn.remote(mount, megabytes).items():
                out["nano-modal Volume (in a container)"].setdefault(k, []).append(v)
            for k, v in raw_disk(Path(tempfile.gettempdir()), megabytes).items():
                out["raw disk"].setdefault(k, []).append(v)
            remote = f"upload-{r}.bin"
            seconds = timed(lambda remote=remote: _upload(vol, local, remote))  # type: ignore[misc]
            out["nano-modal Volume (client API)"].setdefault("write", []).append(megabytes / seconds)
            seconds = timed(lambda remote=remote: sum(len(b) for b in vol.read_file(remote)))  # type: ignore[misc]
            out["nano-modal Volume (client API)"].setdefault("read", []).append(megabytes / seconds)
            vol.remove_file(remote)
    return out


def _upload(vol: Any, local: Path, remote: str) -> None:
    with vol.batch_upload(force=True) as batch:
        batch.put_file(local, remote)


# ------------------------------------------------------------------ report


def med(values: list[float]) -> float:
    return c.median(values) if values else float("nan")


def main() -> None:
    args = c.parse_args(
        __doc__.splitlines()[0],
        [
            (("--mb",), {"type": int, "default": None, "help": "MiB per volume transfer"}),
            (("--queues-only",), {"action": "store_true", "help": "only Queue items in the store vs in Redis"}),
        ],
    )
    n_dict, n_queue, megabytes, rounds = (400, 800, 32, 1) if args.quick else (2000, 4000, args.mb or 256, 3)
    megabytes = args.mb or megabytes
    home = c.temp_home("nano-modal-bench-objects-")
    c.console.print(f"[dim]load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores[/dim]")
    if args.queues_only:
        import nano_modal as nm

        storage = bench_queue_storage(nm, home, n_queue, rounds)
        report_queue_storage(storage, n_queue, rounds)
        c.write_json(args.json, "objects-queue-storage", {"queue_storage": storage, "queue_items": n_queue})
        return
    server, worker = start_cluster(home)
    redis = RedisPeer()
    try:
        import nano_modal as nm

        results: dict[str, Any] = {
            "dict": bench_dict(nm, redis, n_dict, rounds),
            "cpu": cpu_per_op(nm, redis, server.pid, n_dict),
            "queue": bench_queue(nm, redis, n_queue, rounds),
            "volume": bench_volume(nm, home, megabytes, rounds),
            "queue_storage": bench_queue_storage(nm, home, n_queue, rounds),
            "sizes": {"dict_ops": n_dict, "queue_items": n_queue, "volume_mib": megabytes, "rounds": rounds},
        }
    finally:
        redis.stop()
        for proc in (worker, server):
            proc.terminate()
            proc.wait(10)

    d = results["dict"]
    rows = []
    for op in ("put", "get", "put x8 threads", "get x8 threads"):
        nano, peer = med(d["nano-modal Dict"].get(op, [])), med(d["Redis"].get(op, []))
        rows.append([op, c.fmt_rate(nano), c.fmt_rate(peer), c.ratio(peer, nano)])
    c.table(
        f"Dict operations per second ({n_dict} ops, median of {rounds})",
        ["operation", "nano-modal Dict", "Redis (redis-py)", "Redis ÷ nano"],
        rows,
    )

    rows = [
        [name, f"{v['client_us']:,.0f} µs", f"{v['server_us']:,.0f} µs", f"{v['wall_us']:,.0f} µs"]
        for name, v in results["cpu"].items()
    ]
    c.table(f"CPU per sequential operation ({n_dict} ops)", ["operation", "client CPU", "server CPU", "wall"], rows)

    q = results["queue"]
    rows = []
    for op in ("1 item per call", "100 items per call"):
        nano, peer = med(q["nano-modal Queue"].get(op, [])), med(q["Redis"].get(op, []))
        rows.append([op, c.fmt_rate(nano), c.fmt_rate(peer), c.ratio(peer, nano)])
    c.table(
        f"Queue items per second, 4 producers + 4 consumers ({n_queue} items, median of {rounds})",
        ["calls", "nano-modal Queue", "Redis (LPUSH/BRPOP)", "Redis ÷ nano"],
        rows,
    )

    v = results["volume"]
    rows = []
    raw = v["raw disk"]
    for peer_name, res in v.items():
        for op in ("write", "commit", "read"):
            if op in res:
                base = med(raw.get(op, [])) if op in raw else float("nan")
                share = f"{med(res[op]) / base:.0%}" if base == base and peer_name != "raw disk" else "-"
                rows.append([peer_name, op, f"{med(res[op]):,.0f} MB/s", share])
    c.table(
        f"Volume throughput ({megabytes} MiB per transfer, median of {rounds})",
        ["where", "step", "MiB/s", "of raw disk"],
        rows,
    )
    report_queue_storage(results["queue_storage"], n_queue, rounds)
    c.write_json(args.json, "objects", results)


def report_queue_storage(results: dict[str, dict[str, list[float]]], n: int, rounds: int) -> None:
    if not results:
        return
    store, always, everysec = (results[k] for k in ("store (SQLite)", "Redis, fsync always", "Redis, fsync everysec"))
    rows = [
        [
            op,
            c.fmt_rate(med(store[op])),
            c.fmt_rate(med(always[op])),
            c.ratio(med(always[op]), med(store[op])),
            c.fmt_rate(med(everysec[op])),
            c.ratio(med(everysec[op]), med(store[op])),
        ]
        for op in store
    ]
    c.table(
        f"Queue items per second by item storage ({n} items, median of {rounds})",
        ["operation", "in the store (SQLite)", "Redis, fsync always", "÷ store", "Redis, fsync everysec", "÷ store"],
        rows,
    )


if __name__ == "__main__":
    main()
