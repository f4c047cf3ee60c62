"""``orders projection ...``: operators' tools for a projection (also ``scripts/projection.py``).

Exit status: 0 success; 1 the work found a problem (stalled projection, dead letters that
still fail, unknown order); 2 bad usage, bad configuration or an engine that is down.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import time
from typing import Any

from order_service.bootstrap import bootstrap
from order_service.cli import generations as generation_cli
from order_service.cli.output import answers, console, operator_session, progress_bars
from order_service.cli.output import table as output_table
from order_service.personal.codec import PersonalData
from order_service.progress import Tick
from order_service.seeding import chunks_for, seed_orders
from order_service.settings import Settings
from order_service.snapshots import snapshot_orders
from order_service.synthetic import synthetic_orders
from projectors.maintenance import reproject, retry_dead_letters
from projectors.registry import PROJECTIONS
from projectors.status import projection_status, rebuild_statuses

log = logging.getLogger("orders.operations")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    projection = commands.add_parser("projection", help="inspect and repair projections")
    actions = projection.add_subparsers(dest="action", required=True, metavar="ACTION")

    listed = actions.add_parser("list", help="every projection: events, schema, parity")
    listed.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listed.set_defaults(handler=_list)

    status = actions.add_parser("status", help="checkpoint, head, lag, state and dead letters")
    generation_cli.projection_argument(status, default=None, help="one (default: all)")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(handler=_status)

    retry = actions.add_parser("retry-dead-letters", help="re-project orders with dead letters")
    generation_cli.projection_argument(retry)
    retry.add_argument("--dry-run", action="store_true", help="report what would be repaired")
    retry.set_defaults(handler=_retry)

    one = actions.add_parser("reproject", help="rebuild one order's document from its events")
    one.add_argument("order_id")
    generation_cli.projection_argument(one, option=True)
    one.add_argument("--dry-run", action="store_true", help="check the order can be folded")
    one.set_defaults(handler=_reproject)

    generation_cli.add_commands(actions)


def add_seed_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    seed = commands.add_parser("seed", help="append realistic synthetic orders (demos, benchmarks)")
    seed.add_argument("--orders", type=int, default=1000, help="how many orders (default 1000)")
    seed.add_argument(
        "--seed", type=int, default=1, help="same seed, same orders; reruns add nothing"
    )
    seed.add_argument("--dry-run", action="store_true", help="generate but append nothing")
    seed.set_defaults(handler=_seed)


def _seed(args: argparse.Namespace) -> int:
    if args.orders < 1:
        console.print("[red]--orders must be at least 1[/red]")
        return 2
    if args.dry_run:
        synthetic = synthetic_orders(args.orders, seed=args.seed)
        events = sum(
            len(append[1])
            for chunk in chunks_for(synthetic, args.seed, PersonalData(None))
            for append in chunk.orders
        )
        console.print(f"would append {args.orders:,} orders ({events:,} events); nothing written")
        return 0
    started = time.monotonic()
    with operator_session(create=True) as container, progress_bars() as report:
        seeded = [0, 0]

        def advance(orders: int, events: int) -> None:
            seeded[0] += orders
            seeded[1] += events
            report(Tick("seeding orders", seeded[0], args.orders, seeded[1]))

        orders, events = seed_orders(
            container.event_store,
            container.personal,
            args.orders,
            seed=args.seed,
            progress=advance,
        )
    elapsed = time.monotonic() - started
    console.print(
        f"seeded {orders:,} orders ({events:,} events) in {elapsed:.1f}s "
        f"({events / elapsed:,.0f} events/s); rerunning seed {args.seed} appends nothing"
    )
    return 0


def add_snapshot_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    snapshot = commands.add_parser(
        "snapshot", help="snapshot orders with many events since their last snapshot"
    )
    snapshot.add_argument(
        "--min-events", type=int, default=50, help="events since the last snapshot (default 50)"
    )
    snapshot.add_argument("--dry-run", action="store_true", help="count, write nothing")
    snapshot.set_defaults(handler=_snapshot)


def _snapshot(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with operator_session() as container, progress_bars() as progress:
        report = snapshot_orders(
            container.event_store,
            container.personal,
            min_events=args.min_events,
            dry_run=args.dry_run,
            report=progress,
        )
    verb = "would snapshot" if args.dry_run else "snapshotted"
    console.print(
        f"{verb} {report.snapshotted:,} of {report.orders_seen:,} orders"
        f" in {time.monotonic() - started:.1f}s"
    )
    return 0


def seed_if_empty(settings: Settings, orders: int) -> None:
    """``orders up --demo N``: realistic data to click through, once."""
    container = bootstrap(settings)
    try:
        if container.event_store.read_all(limit=1, stream_prefix="order-"):
            console.print("store not empty: --demo seeds nothing")
            return
        orders_seeded, events = seed_orders(container.event_store, container.personal, orders)
        console.print(f"seeded {orders_seeded:,} demo orders ({events:,} events)")
    finally:
        container.close()


def _list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {
            "name": projection.name,
            "schema_version": projection.schema_version,
            "handles": sorted(projection.handles),
            "ignores": sorted(projection.ignores),
            "needs_personal_data": projection.needs_personal_data,
            "parity": projection.parity,
        }
        for projection in PROJECTIONS.values()
    ]
    if args.json:
        print(json.dumps({"projections": rows}))
        return 0
    table = output_table(
        "name", "schema", "handles", "personal data", "parity", title="projections"
    )
    for row in rows:
        table.add_row(
            row["name"],
            str(row["schema_version"]),
            ", ".join(row["handles"]),
            "opened" if row["needs_personal_data"] else "never read",
            row["parity"],
        )
    answers.print(table)
    return 0


def _status(args: argparse.Namespace) -> int:
    every = []
    with operator_session() as container:
        store = container.event_store
        for name in PROJECTIONS:
            if args.name not in (None, name):
                continue
            generations = container.generations_of(name)
            active = generations.active()
            every.append(
                projection_status(store, generations.open(active), name=name, generation=active)
            )
            every += rebuild_statuses(store, generations, name=name)
    if args.json:
        print(json.dumps({"projections": [shown.as_dict() for shown in every]}))
    else:
        for shown in every:
            table = output_table(
                "field", "value", title=f"projection {shown.name}, generation {shown.generation}"
            )
            for key, value in shown.as_dict().items():
                table.add_row(key, "-" if value is None else str(value))
            answers.print(table)
    # Unhealthy: the serving projection or any rebuild stopped.
    return 1 if any(shown.state == "stalled" for shown in every) else 0


def _retry(args: argparse.Namespace) -> int:
    with operator_session() as container:
        index = container.serving_store(args.name)
        report = retry_dead_letters(
            container.event_store,
            index,
            container.personal,
            projection=PROJECTIONS[args.name],
            archive=container.archive,
            dry_run=args.dry_run,
        )
    verb = "would repair" if args.dry_run else "repaired"
    console.print(
        f"{verb} {len(report.repaired)} order(s); {len(report.still_failing)} still failing"
    )
    for order_id, error in report.still_failing.items():
        console.print(f"  [red]{order_id}[/red]: {error}")
    return 1 if report.still_failing else 0


def _reproject(args: argparse.Namespace) -> int:
    with operator_session() as container:
        if args.dry_run:
            found = bool(container.event_store.read_stream(f"order-{args.order_id}", limit=1))
        else:
            written = reproject(
                container.event_store,
                container.serving_store(args.name),
                args.order_id,
                container.personal,
                container.archive,
                projection=PROJECTIONS[args.name],
            )
            found = written is not None
    if not found:
        console.print(f"[red]order {args.order_id} has no events[/red]")
        return 1
    log.info(  # the audit trail of an agent's "this order looks wrong" ticket
        "reproject %s%s by %s",
        args.order_id,
        " (dry run)" if args.dry_run else "",
        getpass.getuser(),
    )
    verb = "would re-project" if args.dry_run else "re-projected"
    console.print(f"{verb} order {args.order_id} in {args.name}")
    return 0
