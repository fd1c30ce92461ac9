"""The `pantau` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import contextlib
import getpass
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from typing import TYPE_CHECKING

from core.configfile import load_settings
from core.errors import ConfigError, PantauError
from core.version import gateway_version
from gateway import logsetup, usercli

# The commands import what they use when they run (below): `pantau --version` or `pantau user list`
# need not load the video, WebRTC and PDF stacks that `pantau serve` does.
if TYPE_CHECKING:
    from core.config import Settings
    from gateway.workerslot import WorkerSlot

log = logging.getLogger("pantau")

DEFAULT_CONFIG = Path("config.yaml")


CONFIG_HELP = "YAML config file (default: config.yaml if present, else built-in defaults)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pantau", description="Pantau CCTV gateway")
    parser.add_argument("--version", action="version", version=f"pantau {gateway_version()}")
    parser.add_argument("--config", type=Path, default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the gateway (migrates the database first)")
    serve.add_argument(
        "--demo", action="store_true", help="add a built-in synthetic camera when none is configured"
    )
    serve.add_argument("--workers", type=_workers, default=None, metavar="N",
                       help="worker processes behind the one HTTP port, or auto (default: server.workers); "
                            "more than 1 needs PostgreSQL")
    # Set by the supervisor (gateway/supervisor.py) on the workers it starts.
    serve.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--worker-count", type=int, default=1, help=argparse.SUPPRESS)
    serve.add_argument("--worker-port", type=int, default=0, help=argparse.SUPPRESS)
    serve.add_argument("--worker-first", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", nargs="?", type=Path, default=None)
    sub.add_parser("migrate", help="upgrade the database to the newest schema")
    sub.add_parser(
        "nodes", help="the nodes sharing this PostgreSQL database: alive, stale or stopped, and the cameras "
        "each holds a lease on"
    )
    grant = sub.add_parser(
        "grant-app-role",
        help="PostgreSQL, as the schema owner: give ROLE rights to run the gateway, with INSERT "
        "and SELECT only on the access log",
    )
    grant.add_argument("--role", default="pantau_app")
    usercli.add_parser(sub)
    verify = sub.add_parser(
        "verify-log", help="verify the access log offline: chain, Merkle tree, signed checkpoints"
    )
    verify.add_argument("--from-file", type=Path, help="an exported log (default: the database)")
    verify.add_argument("--public-key", type=Path, help="log public key (default: the gateway's key)")
    verify.add_argument("--witness-file", type=Path, help="witness file (default: access_log.witness_file)")
    verify.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("log-key", help="print the access log's public key (verifier key line and PEM)")
    vrec = sub.add_parser(
        "verify-recordings", help="re-hash every sealed segment against the index and the chain"
    )
    vrec.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex = sub.add_parser("reindex", help="compare the segment index with the files on disk")
    reindex.add_argument(
        "--dry-run", action="store_true", help="only report; do not add files the index lacks"
    )
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    export = sub.add_parser(
        "export", help="evidence bundle (zip) of cameras over a time range, verifiable offline"
    )
    export.add_argument("--camera", action="append", required=True, metavar="ID",
                        help="camera to export; repeat for several")
    export.add_argument("--start", required=True, type=_rfc3339, help="RFC 3339 time with a zone")
    export.add_argument("--end", required=True, type=_rfc3339, help="RFC 3339 time with a zone")
    export.add_argument("--out", required=True, type=Path, metavar="FILE.zip", help="bundle to write (never overwritten)")
    export.add_argument("--reason", default="", help="why the footage is exported (logged)")
    export.add_argument("--case", default="", help="case, letter or request reference (logged)")
    export.add_argument("--by", default=None, metavar="NAME",
                        help="operator making the export (default: the OS user); logged as declared on the "
                             "command line, beside the OS user")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.add_argument("--no-hold", dest="hold", action="store_false",
                        help="do not place an evidence hold on the exported range (placed by default)")
    vbundle = sub.add_parser("verify-bundle", help="verify an evidence bundle offline (no database)")
    vbundle.add_argument("bundle", type=Path)
    vbundle.add_argument("--public-key", type=Path,
                         help="the trusted log public key (default: the key in the bundle)")
    disc = sub.add_parser("discover", help="find ONVIF cameras (WS-Discovery) and read their identity and profiles")
    disc.add_argument("--timeout", type=float, default=None, metavar="S",
                      help="listen this long for answers (default: onvif.discovery_timeout_s)")
    disc.add_argument("--target", action="append", default=[], metavar="HOST[:PORT]",
                      help="probe this address directly (unicast, e.g. across routers); repeatable")
    disc.add_argument("--interface", default=None, metavar="IPV4",
                      help="send multicast probes out of this interface (default: onvif.discovery_interface)")
    disc.add_argument("--user", default=None, help="ONVIF user for reading device information")
    disc.add_argument("--password-stdin", action="store_true", help="read that user's password from stdin")
    disc.add_argument("--json", action="store_true", help="print JSON instead of text")
    token = sub.add_parser("token", help="disposition tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    tverify = token_sub.add_parser("verify", help="check a disposition token offline with the public key")
    tverify.add_argument("token")
    tverify.add_argument("--public-key", type=Path, help="token public key (default: the gateway's)")
    vminutes = sub.add_parser(
        "verify-berita-acara", help="check a berita acara PDF offline against its detached signature"
    )
    vminutes.add_argument("pdf", type=Path, metavar="FILE.pdf")
    vminutes.add_argument("--signature", required=True, type=Path, metavar="FILE.sig",
                          help="the detached signature (base64), as served beside the PDF")
    vminutes.add_argument("--public-key", type=Path, metavar="PEM",
                          help="berita acara public key (default: the configured key's .pub.pem)")
    _config_after_command(parser)
    return parser


def _config_after_command(parser: argparse.ArgumentParser) -> None:
    """`--config` is also taken after the command (`pantau serve --config F`) by every command and
    action. Its default is suppressed there, so a `--config` before the command is not overwritten
    when none follows it; one after the command wins."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                if not any("--config" in a.option_strings for a in command._actions):
                    command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=CONFIG_HELP)
                _config_after_command(command)


def _workers(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers or auto") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("--workers must be 1-256 or auto")
    return value


def _rfc3339(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone (e.g. Z or +07:00)")
    return value


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from evidence.bundles import ExportRequest, export_cli

    if args.end <= args.start:
        print("pantau export: --end must be after --start", file=sys.stderr)
        return 2
    req = ExportRequest(tuple(dict.fromkeys(args.camera)), args.start, args.end, args.out, args.by or getpass.getuser(),
                        args.reason, args.case, args.hold, by_declared=args.by is not None)
    return export_cli(settings, req, args.quiet)


def _config_path(arg: Path | None) -> Path | None:
    if arg is not None:
        return arg
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _load(path: Path | None) -> Settings:
    settings = load_settings(path)
    logsetup.configure(settings.logging.level, settings.logging.format)
    return settings


async def _serve(settings: Settings, worker: WorkerSlot | None = None) -> None:
    from core.clock import SystemClock
    from gateway.app import Gateway

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def stop() -> None:
        # Once: a second cancel would interrupt the shutdown that seals the open segments.
        if not main.cancelling():
            main.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    # The supervisor migrated the database before starting its workers.
    gateway = Gateway(settings, SystemClock(), migrate=worker is None, worker=worker)
    with contextlib.suppress(asyncio.CancelledError):
        await gateway.run()
    log.info("stopped")


def _serve_command(settings: Settings, args: argparse.Namespace, argv: list[str]) -> int:
    """`pantau serve`: one process, a worker the supervisor started, or the supervisor of N workers."""
    from gateway.migrations import upgrade
    from gateway.supervisor import Supervisor, free_public_port, worker_command
    from gateway.workerslot import WorkerSlot

    if args.worker_index is not None:
        logsetup.configure(settings.logging.level, settings.logging.format, worker=f"w{args.worker_index}")
        slot = WorkerSlot(args.worker_index, args.worker_count, args.worker_port, args.worker_first, args.ready_fd)
        asyncio.run(_serve(settings, slot))
        return 0
    problem = settings.workers_problem(args.workers)
    if problem is not None:
        print(f"pantau: server.workers{' (--workers)' if args.workers is not None else ''}: {problem}",
              file=sys.stderr)
        return 1
    count = settings.worker_count(os.cpu_count() or 1, args.workers)
    if count == 1:
        asyncio.run(_serve(settings))
        return 0
    if settings.database.migrate_on_start:
        upgrade(settings.database_url)
    port = settings.server.port or free_public_port(settings.server.host)
    # The workers' own stop takes up to shutdown_timeout_s for HTTP plus sealing every open segment.
    supervisor = Supervisor(worker_command(argv), count, port, settings.server.shutdown_timeout_s + 20)
    return supervisor.run()


async def _nodes(settings: Settings) -> str:
    from cluster.overview import cluster_overview, overview_text
    from core.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        return overview_text(await cluster_overview(make_sessionmaker(engine), settings.cluster.lease_s))
    finally:
        await engine.dispose()


async def _grant(settings: Settings, role: str) -> None:
    from core.db import make_engine
    from policy.audit.dbrole import grant_app_role

    engine = make_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await grant_app_role(conn, role)
    finally:
        await engine.dispose()


def _verify_log(settings: Settings, args: argparse.Namespace) -> int:
    from core.progress import ProgressBars
    from policy.audit.cli import verify_log
    from policy.audit.origin import known_origin
    from policy.audit.setup import key_path

    public = args.public_key or key_path(settings)
    if not public.exists():
        print(f"pantau: no key at {public}; pass --public-key", file=sys.stderr)
        return 1
    source: str | Path = args.from_file or settings.database_url
    return verify_log(
        source, public, origin=settings.access_log.origin, fallback_origin=known_origin(settings),
        witness_file=args.witness_file or settings.access_log.witness_file,
        bars=ProgressBars.for_terminal(args.quiet),
    )


def _discover(settings: Settings, args: argparse.Namespace) -> int:
    """`pantau discover`: probe, describe, print; exit 0 even when nobody answered."""
    from onvif_adapters.discovery import discover, parse_target

    timeout = args.timeout if args.timeout is not None else settings.onvif.discovery_timeout_s
    if not 0 < timeout <= 60:
        print("pantau: --timeout must be between 0 and 60 seconds", file=sys.stderr)
        return 2
    try:
        targets = [parse_target(t) for t in args.target]
    except ValueError as exc:
        print(f"pantau: --target: {exc}", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
    if password is not None and not args.user:
        print("pantau: --password-stdin needs --user", file=sys.stderr)
        return 2
    interface = args.interface or settings.onvif.discovery_interface
    records = asyncio.run(discover(timeout, targets, args.user, password, interface))
    if args.json:
        print(json.dumps({"devices": [r.as_json() for r in records]}, indent=2))
        return 0
    if not records:
        print(f"no ONVIF device answered within {timeout:g} s", file=sys.stderr)
    for record in records:
        print(record.address)
        if record.info is not None:
            i = record.info
            print(f"  {i.manufacturer} {i.model}, firmware {i.firmware}, serial {i.serial}, hardware {i.hardware_id}")
        for profile in record.profiles:
            print(f"  profile {profile.token} ({profile.name}): {profile.encoding or '-'} "
                  f"{profile.resolution or '-'}{', PTZ' if profile.has_ptz else ''}")
        for scope in record.scopes:
            print(f"  scope {scope}")
        if record.error:
            print(f"  error: {record.error}")
    return 0


#: The process umask of every command: files 0600, folders 0700.
OWNER_ONLY = 0o077


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failure, 2 usage)."""
    # Recordings, the database, keys, letters and exports are the owner's alone: nothing Pantau
    # creates is readable by another local user, whatever the login's umask.
    os.umask(OWNER_ONLY)
    args = _parser().parse_args(argv)
    try:
        if args.command == "check-config":
            path = args.file or _config_path(args.config)
            settings = load_settings(path)
            print(f"{path or '<defaults>'}: ok ({len(settings.cameras)} camera(s))")
            return 0
        if args.command == "verify-bundle":
            from evidence.bundles import verify_bundle

            return verify_bundle(args.bundle, args.public_key)
        settings = _load(_config_path(args.config))
        if args.command == "serve":
            from gateway.app import with_demo

            if args.demo:
                settings = with_demo(settings)
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            return _serve_command(settings, args, list(sys.argv[1:] if argv is None else argv))
        elif args.command == "migrate":
            from gateway.migrations import upgrade

            settings.data_dir.mkdir(parents=True, exist_ok=True)
            upgrade(settings.database_url)
            print("database is at the newest schema")
        elif args.command == "nodes":
            if not settings.database_url.startswith("postgresql"):
                print("pantau: nodes share a PostgreSQL database; this one is SQLite, served by one process",
                      file=sys.stderr)
                return 1
            print(asyncio.run(_nodes(settings)), end="")
        elif args.command == "user":
            return usercli.run(settings, args)
        elif args.command == "verify-log":
            return _verify_log(settings, args)
        elif args.command == "grant-app-role":
            if not settings.database_url.startswith("postgresql"):
                print("pantau: grant-app-role is for PostgreSQL", file=sys.stderr)
                return 1
            asyncio.run(_grant(settings, args.role))
            print(f"role {args.role} may run the gateway; the access log is append-only for it")
        elif args.command == "verify-recordings":
            from core.progress import ProgressBars
            from recorder.verify import verify_recordings

            return verify_recordings(settings, bars=ProgressBars.for_terminal(args.quiet))
        elif args.command == "reindex":
            from core.progress import ProgressBars
            from recorder.verify import reindex_recordings

            return reindex_recordings(settings, apply=not args.dry_run, bars=ProgressBars.for_terminal(args.quiet))
        elif args.command == "log-key":
            from policy.audit.origin import known_origin
            from policy.audit.setup import key_path
            from policy.audit.signingkey import load_key, public_key_text

            # Printing a key must not make one: a new key would not be the one that signed the log.
            path = key_path(settings)
            if not path.exists():
                print(f"pantau: no access-log key at {path} (the gateway creates it on its first start; "
                      "check --config and data_dir)", file=sys.stderr)
                return 1
            key = load_key(path)
            print(public_key_text(key, known_origin(settings)), end="")
        elif args.command == "export":
            return _export(settings, args)
        elif args.command == "discover":
            return _discover(settings, args)
        elif args.command == "token":
            from policy.dispositions.tokencli import verify_token_cli
            from policy.dispositions.tokenkeys import default_token_key_path, public_path

            default = public_path(
                settings.access.disposition.key_path or default_token_key_path(settings.data_dir)
            )
            return verify_token_cli(args.token, args.public_key or default)
        elif args.command == "verify-berita-acara":
            from cases.minutescli import verify_minutes_cli
            from cases.signing import minutes_public_key_path

            public = args.public_key or minutes_public_key_path(settings.cases, settings.data_dir)
            return verify_minutes_cli(args.pdf, args.signature, public)
        return 0
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 1
    except PantauError as exc:
        print(f"pantau: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
