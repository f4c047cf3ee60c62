"""``orders archive run|restore|verify``: move finished orders' events to cold storage and back.

Exit status: 0 done; 1 a problem found (a file that fails verification, orders that could
not be truncated or restored); 2 bad usage, bad configuration or an engine down.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

from order_service.archive.cold import ArchiveCorruptError
from order_service.archive.run import archive_finished_orders, restore
from order_service.cli.output import console, operator_session, progress_bars


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    archive = commands.add_parser(
        "archive", help="move finished orders' events to cold storage, restore, verify"
    )
    actions = archive.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = actions.add_parser(
        "run", help="archive orders delivered or cancelled before a date, then truncate them"
    )
    run.add_argument(
        "--before", type=_day, required=True, metavar="DATE", help="cutoff, YYYY-MM-DD (UTC)"
    )
    run.add_argument("--dry-run", action="store_true", help="count what would move, write nothing")
    run.set_defaults(handler=_run)

    back = actions.add_parser("restore", help="put archived events back into the hot store")
    back.add_argument("order_ids", nargs="*", metavar="ORDER_ID", help="orders to restore")
    back.add_argument("--all", action="store_true", help="every archived order")
    back.add_argument("--dry-run", action="store_true", help="count, restore nothing")
    back.set_defaults(handler=_restore)

    verify = actions.add_parser(
        "verify", help="check every archive file against the manifest (SHA-256, counts)"
    )
    verify.set_defaults(handler=_verify)


def _day(value: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from error
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _run(args: argparse.Namespace) -> int:
    with operator_session() as container:
        try:
            building = [
                g.name
                for g in container.read_model.generations()
                if g.state not in ("active", "standby")
            ]
            if building and not args.dry_run:
                names = ", ".join(building)
                console.print(
                    f"[red]a rebuild of {names} is unfinished[/red]: archiving now would take "
                    "events from under it. Finish it with `orders projection rebuild`, or "
                    f"discard it with `orders projection drop {building[0]}`, then archive."
                )
                return 1
            with progress_bars() as progress:
                report = archive_finished_orders(
                    container.event_store,
                    container.archive,
                    personal=container.personal,
                    before=args.before,
                    dry_run=args.dry_run,
                    report=progress,
                )
        except ArchiveCorruptError as error:
            console.print(f"[red]archive problem, nothing truncated[/red]: {error}")
            return 1
        except BlockingIOError:
            console.print("[red]another archive run is under way[/red]; nothing done")
            return 1
    verb = "would archive" if args.dry_run else "archived"
    console.print(
        f"scanned {report.orders_scanned:,} orders; {report.finished_before_cutoff:,} finished "
        f"before {args.before.date()}; {verb} {report.orders_archived:,} orders "
        f"({report.events_archived:,} events) in {report.seconds:.1f}s"
    )
    if not args.dry_run:
        rate = report.events_archived / report.seconds if report.seconds else 0
        console.print(
            f"{len(report.files)} file(s), {report.bytes_written:,} bytes, {rate:,.0f} events/s;"
            f" {report.snapshots_written:,} final snapshots; {report.streams_truncated:,} streams"
            f" truncated in the hot store; archive at {container.archive.directory}"
        )
    if report.orphans_removed:
        console.print(f"removed {len(report.orphans_removed)} file(s) left by an earlier run")
    for stream, reason in report.not_truncated.items():
        console.print(f"  [yellow]{stream} kept whole[/yellow]: {reason}")
    return 1 if report.not_truncated else 0


def _restore(args: argparse.Namespace) -> int:
    if bool(args.order_ids) == args.all:
        console.print("[red]name the orders to restore, or --all[/red]")
        return 2
    with operator_session() as container, progress_bars() as progress:
        report = restore(
            container.event_store,
            container.archive,
            order_ids=None if args.all else args.order_ids,
            dry_run=args.dry_run,
            report=progress,
        )
    verb = "would restore" if args.dry_run else "restored"
    console.print(f"{verb} {report.streams:,} orders ({report.events:,} events)")
    for stream, reason in report.failed.items():
        console.print(f"  [red]{stream}[/red]: {reason}")
    return 1 if report.failed else 0


def _verify(_: argparse.Namespace) -> int:
    with operator_session() as container:
        files = container.archive.files()
        problems = container.archive.verify()
    events = sum(row["events"] for row in files)
    size = sum(row["bytes"] for row in files)
    console.print(f"{len(files)} file(s), {events:,} events, {size:,} bytes checked")
    for problem in problems:
        console.print(f"  [red]{problem}[/red]")
    return 1 if problems else 0
