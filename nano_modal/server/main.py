"""Start the control plane: `nano-modal server` or `python -m nano_modal.server`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import uvicorn

from .. import config
from .._utils.heap import freeze_startup_heap
from . import banner, follower, janitor, leader, modal_compat, store_retry
from . import grpc_tls as grpc_tls_relay
from .blobs import BlobStore
from .control import ControlPlane
from .dashboard import Dashboard
from .fast_lane import FastLaneServer
from .gateway import Gateway
from .grpc_auth import TokenGate
from .http_limits import BoundedH11Protocol
from .object_service import ObjectPlane
from .scheduler import Scheduler
from .service import Service
from .sql_store import SqlStore
from .web_proxy import SwitchableApp, WebProxy

log = logging.getLogger("nano_modal.server")
DEFAULT_HTTP_PORT = 8000  # web endpoints and the dashboard, as deploy/ and docs/DEPLOY.md say
DEFAULT_HTTPS_PORT = 8443  # the same over TLS, when the operator gives a certificate
ENV_TLS_CERT = "NANO_MODAL_TLS_CERT"
ENV_TLS_KEY = "NANO_MODAL_TLS_KEY"


def admin_token(state_dir: Path) -> tuple[str, bool]:
    """The token clients and workers must present; generated (and reported as new) on first start."""
    from_env = os.environ.get(config.ENV_TOKEN)
    if from_env:
        return from_env, False
    path = state_dir / "admin_token"
    if path.exists():
        return path.read_text().strip(), False
    token = secrets.token_urlsafe(32)
    config.write_private(path, token + "\n")
    return token, True


async def serve(
    host: str,
    port: int,
    http_port: int | None,
    fast_port: int,
    state_dir: Path,
    blob_dir: Path | None,
    store_url: str | None,
    port_file: Path | None,
    quiet: bool,
    advertise: str = "",
    queue_url: str | None = None,
    web_domain: str = "",
    tls: TlsFiles | None = None,
) -> None:
    # Everything the server writes (the state database, its token, blobs) is its own alone,
    # from creation: SQLite creates its -wal and -shm files with the database's mode.
    os.umask(0o077)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token, is_new = admin_token(state_dir)
    store_url = store_url or f"sqlite:///{state_dir / 'state.db'}"
    # One gRPC server and one fast lane for the life of the process: they forward every call
    # while this server is a follower, and serve it here once it holds the store's lease.
    forwarder = follower.Forwarder(lambda: leader.active_address(store_url), token)
    # The gate refuses unknown tokens before a request message is read (grpc_auth.py), and
    # counts the calls by method (/_/metrics).
    grpc_calls: Counter[str] = Counter()
    server = grpc.aio.server(
        options=config.grpc_server_options(), interceptors=[TokenGate(forwarder.valid_token, token, grpc_calls)]
    )
    modal_handler, modal_status = _modal_client_handler()
    server.add_generic_rpc_handlers(
        (forwarder,) if modal_handler is None else (forwarder, modal_handler, modal_handler.router)
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    # With a certificate the same services are also served over TLS: Modal's client reaches the
    # task command router of a server that is not on its own machine only over https.
    grpc_tls, tls_bound = None, None
    if tls is not None:
        grpc_tls, tls_bound = await grpc_tls_relay.start(host, tls.grpc_port, bound, tls.ssl_context())
    fast_lane = None
    if fast_port >= 0:
        fast_lane, forwarder.own_fast_lane_port = await FastLaneServer(forwarder).start(host, fast_port)
    web_app = SwitchableApp(WebProxy(lambda: forwarder.active_web_url))
    web, forwarder.own_web_url = await start_gateway(web_app, host, http_port)
    # With a certificate the gateway also serves HTTPS, and the URLs clients are given (web
    # endpoints, tunnels, sandbox ports) are the HTTPS ones. Servers and workers keep the plain
    # port among themselves (a follower's forwarding), as they do the gRPC one.
    tls_web, public_web_url = None, ""
    if tls is not None:
        tls_web, public_web_url = await start_gateway(web_app, host, tls.port, tls)
    forwarder.web_domain = web_domain  # every server on a store is given the same one
    lease = await leader.try_acquire(store_url)
    if lease is None:  # another server is active on this store: serve as its follower meanwhile
        _write_port_file(port_file, bound)
        print(
            f"follower on {host}:{bound}: another server is active on this store; this one forwards"
            " every call to it, and takes over when it stops",
            file=sys.stderr,
        )
        lease = await follower.follow(store_url, forwarder)
    store_retry.on_give_up = _exit_store_lost
    store = SqlStore(store_url)
    control = ControlPlane(store)
    requeued = control.recover()
    queue_items = None
    if queue_url:  # Queue items in Redis; imported only then (redis is an optional dependency)
        from .redis_queues import RedisQueues

        queue_items = await RedisQueues.connect(queue_url)
    objects = ObjectPlane(store, control, state_dir, queue_items)
    control.container_env_hooks.append(objects.container_env)  # secrets and volume mounts
    control.secret_variables = objects.secrets.variables  # secrets of image build steps
    blobs = BlobStore(blob_dir or state_dir / "blobs")
    service = Service(
        control,
        blobs,
        token,
        objects,
        web_base_url=public_web_url or forwarder.own_web_url,
        fast_lane_port=forwarder.own_fast_lane_port,
        web_domain=web_domain,
    )
    address = advertise or f"{_shown_host(host)}:{bound}"
    router_url = f"http://{address}" if tls_bound is None else f"https://{address.rsplit(':', 1)[0]}:{tls_bound}"
    modal_routes, modal_web = (
        ([], None)
        if modal_handler is None
        else modal_compat.attach(
            modal_handler,
            control,
            blobs,
            token,
            objects,
            forwarder.own_web_url,
            service.sandboxes,
            router_url,
            service.scope,
            web_domain,
            service.workspaces,
        )
    )
    lease.advertise(address)
    # Recovery done: from now on the loop never waits for the store (store_retry.py).
    store_retry.serving_thread = threading.get_ident()
    await forwarder.serve_locally(service, address)
    if fast_lane is not None:
        fast_lane.service = service
    scheduler = Scheduler(control)
    gateway = Gateway(
        control,
        service.deployments,
        blobs,
        extra_routes=[*Dashboard(control, token, scheduler.pass_seconds, grpc_calls).routes, *modal_routes],
        admin_token=token,
        web_domain=web_domain,
        foreign_web=modal_web,
    )
    web_app.app = gateway.app
    lease_watch = asyncio.create_task(lease.watch(_exit_lease_lost))
    scheduling = asyncio.create_task(scheduler.run())
    housekeeping = asyncio.create_task(janitor.run_forever(store, blobs, control))
    reaper = asyncio.create_task(objects.reap_forever())  # ephemeral objects whose client left
    expiry = asyncio.create_task(objects.expire_queue_partitions_forever())  # partition_ttl
    freeze_startup_heap()  # before it says it is ready: no call waits for this collection
    _write_port_file(port_file, bound)
    if not quiet:
        web_port = int(forwarder.own_web_url.rsplit(":", 1)[1])
        for line in banner.lines(host, bound, web_port, state_dir, token_from_env=config.ENV_TOKEN in os.environ):
            print(line, file=sys.stderr)
        if public_web_url:
            print(f"  https:         {public_web_url}/<app>/<function>/  (the URLs clients are given)", file=sys.stderr)
        if tls_bound is not None:
            tls_hint = f"MODAL_SERVER_URL=https://<host>:{tls_bound}"
            print(f"  grpc over tls: {_shown_host(host)}:{tls_bound}  ({tls_hint})", file=sys.stderr)
        print(f"  modal client:  {modal_status}", file=sys.stderr)
        if requeued:
            print(f"recovered {requeued} unfinished inputs", file=sys.stderr)
        if is_new and sys.stderr.isatty():
            print(
                f"\nA new admin token was generated. It is shown only this once:\n\n    {token}\n\n"
                f"Clients: nano-modal token set --server {banner.reachable_hosts(host)[0]}:{bound} --token <token>\n",
                file=sys.stderr,
            )
        elif is_new:  # stderr is a log file or a journal: the token stays out of it
            print(
                f"A new admin token was generated; it is in {state_dir / 'admin_token'} (readable by"
                " this user only). It is not printed here: this output is not a terminal.",
                file=sys.stderr,
            )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    lease_watch.cancel()
    scheduling.cancel()
    housekeeping.cancel()
    reaper.cancel()
    expiry.cancel()
    web.should_exit = True
    if tls_web is not None:
        tls_web.should_exit = True
    if fast_lane is not None:
        fast_lane.close()
    if grpc_tls is not None:
        grpc_tls.close()
    await server.stop(grace=1.0)
    store.close()


def _modal_client_handler() -> tuple[modal_compat.ModalClientHandler | None, str]:
    """Modal's client protocol, served when the `modal` package is installed (modal_compat/)."""
    proto, status = modal_compat.load_protocol()
    return (None if proto is None else modal_compat.ModalClientHandler(proto)), status


@dataclass(frozen=True)
class TlsFiles:
    """The operator's certificate for the gateway's HTTPS port (--tls-cert, --tls-key, --https-port)
    and the gRPC services' TLS port (--grpc-tls-port)."""

    cert: Path
    key: Path
    port: int | None  # None: DEFAULT_HTTPS_PORT if free, else any
    grpc_port: int = 0  # 0: any free port (the banner names it)

    def ssl_context(self) -> ssl.SSLContext:
        return grpc_tls_relay.server_context(self.cert, self.key)


async def start_gateway(
    app: SwitchableApp, host: str, port: int | None, tls: TlsFiles | None = None
) -> tuple[uvicorn.Server, str]:
    """Serve web endpoints on host:port (0: any free port; None: the default port if free, else any);
    over HTTPS with `tls`. Returns the server and its base URL."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Responses go out in several small writes (start, chunks, end): without NODELAY, Nagle and
    # delayed ACKs hold each response back ~40 ms. Accepted connections inherit the option.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    default_port = DEFAULT_HTTPS_PORT if tls else DEFAULT_HTTP_PORT
    if port is None:  # the default: the usual port, else any free one (another server has it)
        try:
            sock.bind((host, default_port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            kind = "HTTPS" if tls else "HTTP"
            log.warning("%s port %d is in use; web endpoints and the dashboard use a free port", kind, default_port)
            sock.bind((host, 0))
    else:
        sock.bind((host, port))
    # BoundedH11Protocol: a deadline on each request head (http_limits.py).
    web = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            http=BoundedH11Protocol,
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
        )
    )
    if tls:
        web.config.load()  # reads the certificate now: a bad one stops the start with its reason
    web.config.setup_event_loop = lambda: None  # type: ignore[method-assign]  # share the server's loop
    task = asyncio.create_task(web.serve(sockets=[sock]))
    _background.add(task)
    scheme = "https" if tls else "http"
    return web, f"{scheme}://{_shown_host(host)}:{sock.getsockname()[1]}"


def _shown_host(host: str) -> str:
    """How others reach a server bound to `host`."""
    return banner.reachable_hosts(host)[0]


def _write_port_file(port_file: Path | None, bound: int) -> None:
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(bound))
        tmp.replace(port_file)


_background: set[asyncio.Task[None]] = set()
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL: a supervisor (systemd Restart=, compose restart:) starts us again


def _exit_store_lost(exc: BaseException) -> None:
    """The state store stayed unreachable: stop at once rather than serve state the store lacks.
    Restarting rebuilds every queue from the store, so nothing accepted is lost."""
    log.critical("state store unreachable for %.0fs (%s); exiting", config.STORE_RETRY_TIMEOUT, exc)
    logging.shutdown()
    os._exit(EXIT_TEMPFAIL)


def _exit_lease_lost() -> None:
    """Another server may be active on the store now: stop at once rather than serve beside it;
    started again, this server serves as a follower."""
    log.critical("lost the store lease (the database connection holding it is gone); exiting")
    logging.shutdown()
    os._exit(EXIT_TEMPFAIL)


def build_parser() -> argparse.ArgumentParser:
    """The command line (deploy/ is checked against it by tests/test_deploy_recipes.py)."""
    parser = argparse.ArgumentParser(prog="nano-modal server", description="Run the nano-modal control plane.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0: every interface)"
    )
    parser.add_argument("--port", type=int, default=50051, help="gRPC port of clients and workers (default: 50051)")
    parser.add_argument("--state-dir", type=Path, default=None, help="default: $NANO_MODAL_HOME/server")
    parser.add_argument("--blob-dir", type=Path, default=None, help="where blobs are kept (default: <state-dir>/blobs)")
    parser.add_argument(
        "--store",
        default=os.environ.get(config.ENV_STORE) or None,
        help=f"SQLAlchemy URL of the state store (default: ${config.ENV_STORE}, else a SQLite file)",
    )
    parser.add_argument(
        "--queue",
        default=os.environ.get(config.ENV_QUEUE) or None,
        help=f"redis://host:port/db: keep Queue items in Redis (default: ${config.ENV_QUEUE}, else the state store)",
    )
    parser.add_argument("--port-file", type=Path, default=None, help="write the bound port here once serving")
    parser.add_argument(
        "--http-port",
        type=int,
        default=None,
        help=f"port of web endpoints and the dashboard (default: {DEFAULT_HTTP_PORT}, or a free port when"
        f" {DEFAULT_HTTP_PORT} is taken; 0: any free port)",
    )
    parser.add_argument(
        "--fast-port", type=int, default=0, help="port of the fast lane for unary calls (default: 0, any free; -1: off)"
    )
    parser.add_argument(
        "--advertise",
        default=os.environ.get(config.ENV_ADVERTISE, ""),
        help="host:port at which other servers on the same store reach this one (default: --host and the bound port)",
    )
    parser.add_argument(
        "--web-domain",
        type=_web_domain,
        default=os.environ.get(config.ENV_WEB_DOMAIN, ""),
        help="wildcard domain for web endpoints: each answers at http://<app>-<function>.<domain>:<http port>/"
        f" (e.g. nano.localhost, which resolves to loopback; default: ${config.ENV_WEB_DOMAIN}; the"
        " /<app>/<function>/ path form keeps working)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        default=os.environ.get(ENV_TLS_CERT) or None,
        help=f"PEM certificate (chain) for an HTTPS port of the gateway; clients are then given https:// URLs"
        f" for web endpoints and tunnels (default: ${ENV_TLS_CERT})",
    )
    parser.add_argument(
        "--tls-key",
        type=Path,
        default=os.environ.get(ENV_TLS_KEY) or None,
        help=f"its PEM key (default: ${ENV_TLS_KEY})",
    )
    parser.add_argument(
        "--https-port",
        type=int,
        default=None,
        help=f"the HTTPS port, with --tls-cert (default: {DEFAULT_HTTPS_PORT}, or a free port when taken; 0: any free)",
    )
    parser.add_argument(
        "--grpc-tls-port",
        type=int,
        default=None,
        help="port of the gRPC services over TLS, with --tls-cert (default: any free port, shown in the banner);"
        " the real modal client then uses MODAL_SERVER_URL=https://<host>:<this port>",
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings only, print no start-up banner")
    return parser


def _web_domain(value: str) -> str:
    """A domain name whose every subdomain reaches this server (a wildcard DNS record, or *.localhost)."""
    domain = value.strip().strip(".").lower()
    if domain and not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", domain):
        raise argparse.ArgumentTypeError(f"--web-domain must be a domain name such as nano.localhost, got {value!r}")
    return domain


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    state_dir = args.state_dir or config.home_dir() / "server"
    tls = _tls_files(parser, args)
    asyncio.run(
        serve(
            args.host,
            args.port,
            args.http_port,
            args.fast_port,
            state_dir,
            args.blob_dir,
            args.store,
            args.port_file,
            args.quiet,
            args.advertise,
            args.queue,
            args.web_domain,
            tls,
        )
    )


def _tls_files(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TlsFiles | None:
    """--tls-cert and --tls-key, both or neither, readable; one line otherwise."""
    if args.tls_cert is None and args.tls_key is None:
        if args.https_port is not None or args.grpc_tls_port is not None:
            parser.error("--https-port and --grpc-tls-port need --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        parser.error("--tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if not os.access(path, os.R_OK):
            parser.error(f"cannot read {path}")
    return TlsFiles(args.tls_cert, args.tls_key, args.https_port, args.grpc_tls_port or 0)
