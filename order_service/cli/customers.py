"""``orders customer erase|rewrap|encrypt-log``: customers' personal data and its keys.

``erase`` deletes a customer's keys and records the erasure on each of their orders (see
``order_service.personal.erasure``); ``rewrap`` moves every customer key to the current
key-encryption key; ``encrypt-log`` copies a log written before encryption into a new store
with its personal values sealed. ``erase`` cannot be undone, so it asks first unless ``--yes``
(or ``--dry-run``). Exit status: 0 done; 1 a copy could not be reached (the report says
which), or the erasure was not confirmed; 2 bad usage or an engine that is down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from order_service.access.principals import tool_actor
from order_service.bootstrap import open_event_store
from order_service.cli.confirm import confirmed
from order_service.cli.output import answers, console, operator_session
from order_service.events import Causation, metadata
from order_service.eventstore.scan import read_log
from order_service.personal.erasure import ErasureReport
from order_service.personal.keys import KEY_CATEGORY, CustomerKeys
from order_service.personal.migration import encrypt_log
from order_service.settings import Settings


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    customer = commands.add_parser("customer", help="erase a customer's personal data; keys")
    actions = customer.add_subparsers(dest="action", required=True, metavar="ACTION")

    erase = actions.add_parser("erase", help="crypto-shred one customer's personal data")
    erase.add_argument("customer_id", help="the customer's id, as in their orders")
    erase.add_argument("--dry-run", action="store_true", help="report what it would touch")
    erase.add_argument("--json", action="store_true", help="print the report as JSON")
    erase.add_argument("--yes", action="store_true", help="erase without asking (it is final)")
    erase.set_defaults(handler=_erase)

    rewrap = actions.add_parser(
        "rewrap", help="wrap every customer key with the current ORDERS_KEY_ENCRYPTION_KEY"
    )
    rewrap.add_argument("--dry-run", action="store_true", help="count, write nothing")
    rewrap.set_defaults(handler=_rewrap)

    migrate = actions.add_parser(
        "encrypt-log", help="copy the log (archive included) into a new store, sealing it"
    )
    migrate.add_argument("--to", required=True, help="the new event store's URL (empty)")
    migrate.set_defaults(handler=_encrypt_log)


def _erase(args: argparse.Namespace) -> int:
    warning = (
        f"Erasing customer {args.customer_id} deletes their keys: their names, e-mails, "
        "addresses and notes become unreadable everywhere (log, archive, snapshots, read "
        "models, backups), and this cannot be undone."
    )
    if not args.dry_run and not confirmed(warning, "Erase?", yes=args.yes):
        return 1
    with operator_session() as container:
        causation = Causation(
            "customer-erase", f"erase-{args.customer_id}", actor=tool_actor("customer-erase")
        )
        erasure = container.erasure
        erasure.progress = lambda step: console.print(f"[dim]{step}[/dim]")
        report = asyncio.run(erasure.erase(args.customer_id, causation, dry_run=args.dry_run))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    return 1 if report.unreachable else 0


def _print(report: ErasureReport) -> None:
    verb = "would erase" if report.dry_run else "erased"
    answers.print(
        f"{verb} customer {report.customer_id}: {len(report.orders)} orders"
        f" ({', '.join(report.orders[:10])}{', ...' if len(report.orders) > 10 else ''})"
    )
    if not report.dry_run:
        answers.print(
            f"  keys deleted {report.keys_deleted}; erasure recorded on {report.erasure_records}"
            f" orders; snapshots dropped {report.snapshots_dropped}; archived events (sealed,"
            f" now unreadable) {report.archived_events}; re-projected per generation"
            f" {report.generations}; read model files compacted: {report.compaction};"
            f" {report.seconds:.1f}s"
        )
    for copy, why in report.unreachable.items():
        answers.print(f"  [red]not reached[/red]: {copy}: {why}")


def _rewrap(args: argparse.Namespace) -> int:
    with operator_session() as container:
        keys = container.personal.keys
        if keys is None:
            console.print("ORDERS_ENCRYPT_PERSONAL_DATA is off: there are no keys to re-wrap")
            return 2
        causation = Causation("customer-rewrap", "rewrap", actor=tool_actor("customer-rewrap"))
        customers = {
            event.stream.removeprefix(f"{KEY_CATEGORY}-")
            for event in read_log(container.event_store, stream_prefix=f"{KEY_CATEGORY}-")
        }
        rewrapped = 0
        for customer in sorted(customers):
            if not args.dry_run:
                rewrapped += keys.rewrap(customer, metadata(causation, 1))
    verb = "would look at" if args.dry_run else "re-wrapped"
    answers.print(
        f"{verb} the keys of {len(customers):,} customers"
        + ("" if args.dry_run else f": {rewrapped:,} keys now wrapped by {keys.kek.id}")
    )
    return 0


def _encrypt_log(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with operator_session() as container:
        keys = container.personal.keys
        if keys is None:
            console.print("set ORDERS_ENCRYPT_PERSONAL_DATA=true: the copy needs keys")
            return 2
        target = open_event_store(Settings(event_store=args.to))
        try:
            if target.head_position() is not None:
                console.print(f"{args.to} is not empty: the copy must start a new log")
                return 2
            target_keys = CustomerKeys(target, [keys.kek, *keys.older_keks()])
            report = encrypt_log(container.event_store, container.archive, target, target_keys)
        finally:
            target.close()
    answers.print(
        f"copied {report.events_copied:,} events of {len(report.streams):,} streams in"
        f" {time.monotonic() - started:.1f}s: {report.events_sealed:,} sealed with"
        f" {report.keys_made:,} new keys, {report.events_erased:,} of erased customers written"
        f" as [erased], {report.snapshots_left:,} snapshots left behind. Point"
        " ORDERS_EVENT_STORE at the new store, rebuild the projection, then retire the old"
        " store and archive: they still hold the plain values."
    )
    return 0
