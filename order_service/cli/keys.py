"""``orders keys create|list|revoke``: the API keys callers present (``Authorization: Bearer``).

``create`` prints the key once (on standard output, alone, or as JSON with ``--json``); the
store keeps only its SHA-256. A revocation reaches every running process within about a
second. The first key turns access control on for every caller (loopback included), so
``create`` asks first unless ``--yes``. Exit status: 0 success; 1 no such key, or the first
key not confirmed; 2 bad usage or an engine that is down.
"""

from __future__ import annotations

import argparse
import json

from order_service.access.api_keys import UnknownKeyError
from order_service.access.principals import ROLES, tool_actor
from order_service.cli.confirm import confirmed
from order_service.cli.output import console, operator_session
from order_service.cli.output import table as output_table


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="issue a key (printed once)")
    create.add_argument("--role", action="append", required=True, choices=ROLES, help="may repeat")
    create.add_argument("--name", required=True, help="who or what holds it, e.g. web-shop")
    create.add_argument(
        "--order-id-prefix",
        default="",
        metavar="PREFIX",
        help="the key may only place and change orders whose id starts so (e.g. shop-a-)",
    )
    create.add_argument("--json", action="store_true", help="print {id, name, roles, key}")
    create.add_argument(
        "--yes", action="store_true", help="the first key turns access control on: no question"
    )
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="every key with its roles; never the secret")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", help="revoke a key everywhere within seconds")
    revoke.add_argument("id", help="the key's id (from `orders keys list`)")
    revoke.set_defaults(handler=_revoke)


FIRST_KEY = (
    "This is the first credential: once it exists, access control is enforced everywhere. "
    "Every caller, loopback included, then needs an API key or a token, and open consoles "
    "must sign in; requests without one are refused with 401."
)


def _create(args: argparse.Namespace) -> int:
    with operator_session(create=True) as container:
        container.api_keys.refresh()
        first = not container.authenticator.configured
        if first and not confirmed(FIRST_KEY, "Create it and enforce access?", yes=args.yes):
            return 1
        try:
            record, key = container.api_keys.create(
                args.name, args.role, tool_actor("keys"), order_id_prefix=args.order_id_prefix
            )
        except ValueError as error:
            console.print(f"orders keys: {error}")
            return 2
    if args.json:
        print(
            json.dumps(
                {
                    "id": record.id,
                    "name": record.name,
                    "roles": list(record.roles),
                    "order_id_prefix": record.order_id_prefix or None,
                    "key": key,
                }
            )
        )
    else:
        console.print(
            f"created key {record.id} ({record.name}: {', '.join(record.roles)}); "
            "it is shown once, below, and cannot be recovered"
        )
        print(key)
    if first:
        console.print("access control is now enforced: every request needs a credential")
    return 0


def _list(args: argparse.Namespace) -> int:
    with operator_session() as container:
        records = container.api_keys.records()
    if args.json:
        print(json.dumps([record.public() for record in records], indent=2))
        return 0
    table = output_table("id", "name", "roles", "created", "by", "revoked")
    for record in records:
        table.add_row(
            record.id,
            record.name,
            ", ".join(record.roles),
            record.created_at[:19],
            str(record.created_by.get("id", "")),
            (record.revoked_at or "")[:19],
        )
    console.print(table) if records else console.print("no API keys: access is open on loopback")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with operator_session() as container:
        try:
            record = container.api_keys.revoke(args.id, tool_actor("keys"))
        except UnknownKeyError:
            console.print(f"orders keys: no key {args.id!r}")
            return 1
    console.print(f"revoked key {record.id} ({record.name}) at {record.revoked_at}")
    return 0
