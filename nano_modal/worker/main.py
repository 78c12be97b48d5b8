"""Start a worker: `nano-modal worker --server HOST:PORT` or `python -m nano_modal.worker`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from .. import config
from .._utils.heap import freeze_startup_heap
from ..client import Client
from ..exception import InvalidError
from . import GRPC_FORKS_SAFELY, scratch
from .agent import Agent
from .images.registry_refs import mirrors_from_env
from .network import IPNetwork, parse_networks
from .runtime import DEFAULT_PIDS_LIMIT, RUNTIMES, Runtime, make_runtime

log = logging.getLogger("nano_modal.worker")

# Containers kept booted ahead of need (worker/preboot.py), per kind, per isolating runtime: a
# cold start then skips the runtime's start and the entrypoint's imports (gvisor ~1.1 s -> ~0.2 s,
# bwrap ~135 -> ~75 ms), a sandbox's creation the runtime's and its agent's start (once the worker
# has run a sandbox; docs/BENCHMARKS.md). Not for `process`, the development fallback.
DEFAULT_PREBOOT = {"gvisor": 1, "bwrap": 1}
NETWORKED_RUNTIMES = ("bwrap", "gvisor")  # the runtimes that give containers a network of their own


class RuntimeUnusable(SystemExit):
    """The worker cannot run containers the way asked: it stops at start instead of failing every call."""


async def choose_runtime(
    name: str, pids_limit: int, preboot: int | None = None, allow_net: tuple[IPNetwork, ...] = ()
) -> Runtime:
    """`auto`: bwrap where a trial container works, else the unisolated process runtime, loudly.
    An explicit runtime whose trial container fails is refused (RuntimeUnusable): the worker would
    accept work it cannot do. `preboot` None: the runtime's default (DEFAULT_PREBOOT)."""

    def make(runtime: str) -> Runtime:
        booted = preboot if preboot is not None else DEFAULT_PREBOOT.get(runtime, 0)
        network = {"allow_net": allow_net} if runtime in NETWORKED_RUNTIMES else {}
        return make_runtime(runtime, pids_limit=pids_limit, preboot=booted, **network)

    runtime = make("bwrap" if name == "auto" else name)
    problem = await runtime.probe()
    if problem is None:
        return runtime
    if name != "auto":
        raise RuntimeUnusable(f"runtime {name!r} cannot run containers here: {problem}")
    log.warning(
        "bubblewrap cannot run containers here (%s): containers run as plain processes, with NO ISOLATION "
        "(trusted code only; --runtime bwrap would stop here instead)",
        problem,
    )
    fallback = make("process")
    problem = await fallback.probe()
    if problem is not None:
        raise RuntimeUnusable(f"this worker's Python cannot run containers, not even as plain processes: {problem}")
    return fallback


async def run_worker(
    server_url: str,
    token: str,
    runtime: str,
    block_network: bool,
    pids_limit: int,
    preboot: int | None = None,
    allow_net: tuple[IPNetwork, ...] = (),
    container_env: dict[str, str] | None = None,
) -> None:
    await asyncio.to_thread(scratch.claim)  # first: everything below makes its temporary files there
    # Then: a worker that cannot run containers says so now, server or not.
    chosen = await choose_runtime(runtime, pids_limit, preboot, allow_net)
    client = Client(server_url, token)
    await client._hello(wait=config.RECONNECT_TIMEOUT)  # a worker may start before its server
    agent = Agent(client, chosen, block_network=block_network, container_env=container_env or {})
    freeze_startup_heap()
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _container_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        message = f"{text!r} is not a number of containers (0 or more; ${config.ENV_PREBOOT} too)"
        raise argparse.ArgumentTypeError(message)
    return count


def _network(text: str) -> IPNetwork:
    try:
        return parse_networks([text])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _env_setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (a variable name, '=', its value)")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    """The command line (deploy/ is checked against it by tests/test_deploy_recipes.py)."""
    parser = argparse.ArgumentParser(prog="nano-modal worker", description="Run containers for a nano-modal server.")
    parser.add_argument(
        "--server",
        default=os.environ.get(config.ENV_SERVER_URL),
        help=f"host:port of the server (default: ${config.ENV_SERVER_URL} or the config file)",
    )
    parser.add_argument("--token", default=None, help=f"admin token (default: ${config.ENV_TOKEN} or the config file)")
    parser.add_argument(
        "--runtime",
        default=os.environ.get(config.ENV_RUNTIME) or "auto",
        choices=["auto", *sorted(RUNTIMES)],
        help=f"how containers are isolated (default: ${config.ENV_RUNTIME}, else auto: bwrap where it works, else"
        " process, with no isolation)",
    )
    parser.add_argument(
        "--block-network", action="store_true", help="no network for any container (they still reach the server)"
    )
    parser.add_argument(
        "--allow-net",
        action="append",
        default=[],
        type=_network,
        metavar="CIDR",
        help="a private, link-local or host network containers may reach (repeatable; bwrap's outbound NAT)",
    )
    parser.add_argument(
        "--pids-limit",
        type=int,
        default=DEFAULT_PIDS_LIMIT,
        help=f"processes+threads per container (default: {DEFAULT_PIDS_LIMIT})",
    )
    parser.add_argument(
        "--preboot",
        type=_container_count,
        default=os.environ.get(config.ENV_PREBOOT) or None,  # argparse applies `type` to it too
        metavar="N",
        help="containers kept booted ahead of need, per kind (functions; sandboxes once one has run)"
        " (default: 1 with gvisor and bwrap, 0 with process)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=_env_setting,
        metavar="NAME=VALUE",
        help="set in every container of this worker, under the function's own environment and secrets"
        " (repeatable): what an image's ENV would set, for images the worker's Python stands in for",
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    return parser


def main(argv: list[str] | None = None) -> None:
    if not GRPC_FORKS_SAFELY:  # gRPC came first (the CLI's import): this process keeps its fork support
        same = sys.argv[1:] if argv is None else argv
        os.execv(sys.executable, [sys.executable, "-m", "nano_modal.worker", *same])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    cfg = config.client_config()
    server_url = args.server or cfg.server_url
    token = args.token or cfg.token
    if not server_url or not token:
        raise SystemExit(
            f"a worker needs --server and a token (--token, ${config.ENV_TOKEN} or `nano-modal token set`)"
        )
    try:  # a malformed setting stops the worker at start, in one line, not at its first image build
        mirrors_from_env()
    except InvalidError as e:
        raise SystemExit(f"nano-modal worker: {e}") from None
    asyncio.run(
        run_worker(
            server_url,
            token,
            args.runtime,
            args.block_network,
            args.pids_limit,
            args.preboot,
            tuple(args.allow_net),
            dict(args.env),
        )
    )
