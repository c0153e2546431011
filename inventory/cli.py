"""`inventory` — the command line of the pipeline.

inventory stream create-topics   create every topic with its partition count (idempotent)
inventory db migrate             apply database migrations (idempotent)
inventory worker                 the faust worker: agents, tables, expiry timer
inventory projector              the read-model projector
inventory gateway                the aiohttp gateway
inventory run                    all of the above, in the foreground, until Ctrl-C
inventory cleanup                expire overdue pending orders now (the timer's sweep, by hand)
inventory schemas [--check]      write (or check) the JSON Schemas in docs/schemas
inventory keys create --role ROLE --name NAME
                                 a new API key (admin, storefront, viewer), printed once
inventory keys list              every key: id, name, role, created, last used, revoked
inventory keys revoke ID         refuse the key from now on (every gateway within 2 s)
inventory audit tail             print audit events live (--from-beginning, --json, --max N,
                                 --timeout S) until Ctrl-C
inventory top                    products, holds about to expire and lag, redrawn in place
                                 (--interval S) until Ctrl-C; --once draws it once
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

from inventory.errors import InventoryError
from inventory.settings import DefaultCommandKey, Settings, get_settings
from storage.api_keys import ROLES as KEY_ROLES

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def cmd_create_topics(settings: Settings, _: argparse.Namespace) -> int:
    from inventory.kafka_admin import create_topics

    created = asyncio.run(create_topics(settings))
    print(f"topics ready ({len(created)} created, {settings.partitions} partitions each)")
    return 0


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from storage.engine import create_engine
    from storage.migrate import migrate

    async def go() -> list[str]:
        engine = create_engine(settings)
        try:
            return await migrate(engine, settings.database_schema)
        finally:
            await engine.dispose()

    applied = asyncio.run(go())
    print(f"database schema {settings.database_schema!r} up to date ({len(applied)} applied)")
    return 0


def cmd_worker(settings: Settings, _: argparse.Namespace) -> int:
    from agents.worker import run

    sys.argv = [sys.argv[0], "worker"]  # faust's Worker reads its own command line
    run(settings)
    return 0


def cmd_projector(settings: Settings, _: argparse.Namespace) -> int:
    from inventory.gc_tuning import tune_garbage_collector
    from inventory.projector import run

    tune_garbage_collector()
    asyncio.run(run(settings))
    return 0


def cmd_gateway(settings: Settings, _: argparse.Namespace) -> int:
    from api.main import serve
    from api.middleware import RequestIdLogFilter

    # Every gateway log line names the request it belongs to ("-" outside requests).
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdLogFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
        )

    asyncio.run(serve(settings))
    return 0


def cmd_run(settings: Settings, _: argparse.Namespace) -> int:
    from inventory.supervisor import run_all

    return run_all(settings)


def cmd_cleanup(settings: Settings, _: argparse.Namespace) -> int:
    from inventory.cleanup import expire_overdue

    sent = asyncio.run(expire_overdue(settings))
    print(f"sent {sent} expire command(s) for overdue pending orders")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from inventory.replay import replay

    report = asyncio.run(replay(settings, swap=not args.no_swap))
    where = report.schema if args.no_swap else settings.database_schema
    print(
        f"replayed {report.events} events ({report.skipped} unreadable skipped) "
        f"into {where!r} in {report.seconds:.1f}s"
    )
    return 0


def cmd_schemas(_: Settings, args: argparse.Namespace) -> int:
    from topics.schemas import drifted, write_schemas

    if args.check:
        stale = drifted(SCHEMA_DIR)
        if stale:
            print(f"schemas out of date: {', '.join(stale)}; run `inventory schemas`")
            return 1
        print("schemas up to date")
        return 0
    for path in write_schemas(SCHEMA_DIR):
        print(path)
    return 0


def cmd_audit_tail(settings: Settings, args: argparse.Namespace) -> int:
    from inventory.audit_tail import TailOptions, tail

    options = TailOptions(
        from_beginning=args.from_beginning,
        as_json=args.json,
        max_events=args.max,
        idle_timeout=args.timeout,
    )
    try:
        asyncio.run(tail(settings, options))
    except InventoryError as err:  # e.g. the audit topic does not exist
        print(f"inventory audit tail: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handler was installed
        pass
    return 0


def cmd_top(settings: Settings, args: argparse.Namespace) -> int:
    from inventory.top import top

    # Info lines of the Kafka client would scroll the view away.
    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C before the handler was installed
        asyncio.run(top(settings, once=args.once, interval=args.interval))
    return 0


def _with_engine(settings: Settings, work: Any) -> Any:
    """Run `work(engine)` on a migrated database, then close the engine."""
    from storage.engine import create_engine
    from storage.migrate import migrate

    async def go() -> Any:
        engine = create_engine(settings)
        try:
            await migrate(engine, settings.database_schema)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _when(moment: Any) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def cmd_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from storage.api_keys import create_key

    info, key = _with_engine(settings, lambda engine: create_key(engine, args.role, args.name))
    print(f"created key {info.id} ({info.role}) named {info.name!r}; it is shown only now:")
    print(key)  # the last line of stdout, for scripts (scripts/run.sh)
    return 0


def cmd_keys_list(settings: Settings, _: argparse.Namespace) -> int:
    from storage.api_keys import list_keys

    keys = _with_engine(settings, list_keys)
    print(f"{'id':<20} {'role':<10} {'created':<25} {'last used':<25} {'revoked':<25} name")
    for k in keys:
        print(
            f"{k.id:<20} {k.role:<10} {_when(k.created_at):<25} {_when(k.last_used_at):<25} "
            f"{_when(k.revoked_at):<25} {k.name}"
        )
    return 0


def cmd_keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from storage.api_keys import revoke_key

    info = _with_engine(settings, lambda engine: revoke_key(engine, args.id))
    if info is None:
        print(f"inventory keys revoke: no key {args.id!r}", file=sys.stderr)
        return 1
    print(f"revoked key {info.id} ({info.role}, {info.name!r}) at {_when(info.revoked_at)}")
    return 0


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inventory", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    stream = sub.add_parser("stream", help="Kafka topics").add_subparsers(
        dest="action", required=True
    )
    stream.add_parser("create-topics", help="create the pipeline's topics").set_defaults(
        func=cmd_create_topics
    )
    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", help="apply migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("worker", help="run the faust worker").set_defaults(func=cmd_worker)
    sub.add_parser("projector", help="run the read-model projector").set_defaults(
        func=cmd_projector
    )
    sub.add_parser("gateway", help="run the HTTP gateway").set_defaults(func=cmd_gateway)
    sub.add_parser("run", help="run the whole pipeline until Ctrl-C").set_defaults(func=cmd_run)
    sub.add_parser("cleanup", help="expire overdue reservations now").set_defaults(func=cmd_cleanup)
    replay = sub.add_parser("replay", help="rebuild the read models from the event topics")
    replay.add_argument(
        "--no-swap",
        action="store_true",
        help="leave the rebuilt tables in <schema>_replay instead of swapping them in",
    )
    replay.set_defaults(func=cmd_replay)
    schemas = sub.add_parser("schemas", help="write or check docs/schemas")
    schemas.add_argument("--check", action="store_true", help="fail if the files are stale")
    schemas.set_defaults(func=cmd_schemas)
    keys = sub.add_parser("keys", help="the gateway's API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", help="create a key and print it once (last line)")
    create.add_argument("--role", required=True, choices=KEY_ROLES)
    create.add_argument("--name", required=True, help="who or what uses it, for the list")
    create.set_defaults(func=cmd_keys_create)
    keys.add_parser("list", help="every key, never the key itself").set_defaults(func=cmd_keys_list)
    revoke = keys.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("id", help="the key's id, as `inventory keys list` shows it")
    revoke.set_defaults(func=cmd_keys_revoke)
    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    audit_tail = audit.add_parser(
        "tail",
        help="print audit events live: occurred_at type entity_type:entity_id request_id",
    )
    audit_tail.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest event kept"
    )
    audit_tail.add_argument("--json", action="store_true", help="print each event's raw JSON")
    audit_tail.add_argument("--max", type=_positive_int, metavar="N", help="stop after N events")
    audit_tail.add_argument(
        "--timeout", type=_positive_float, metavar="S", help="stop after S seconds without events"
    )
    audit_tail.set_defaults(func=cmd_audit_tail)
    top = sub.add_parser("top", help="products, holds and lag in the terminal, redrawn in place")
    top.add_argument("--once", action="store_true", help="draw once and exit")
    top.add_argument(
        "--interval", type=_positive_float, default=1.0, metavar="S", help="seconds between draws"
    )
    top.set_defaults(func=cmd_top)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    _configure_logging(settings)
    try:
        return int(args.func(settings, args) or 0)
    except DefaultCommandKey as err:
        print(f"inventory {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
