"""Callers and their roles, as every event's metadata records them (``actor``)."""

from __future__ import annotations

import getpass
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["checkout", "agent", "operator", "monitor"]
ROLES: tuple[Role, ...] = ("checkout", "agent", "operator", "monitor")
ORDER_ID_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,27}")
"""What an order id may start with (an id is at most 64 characters: a generated one is the
prefix and a 36-character UUID)."""


class OrderIdNotAllowedError(Exception):
    """The caller's credential may only address orders whose id starts with its prefix."""

    def __init__(self, prefix: str) -> None:
        super().__init__(
            f"this credential may only place and change orders whose id starts with {prefix!r}"
        )
        self.prefix = prefix


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API key (``kind="api_key"``), a token's subject
    (``"oidc"``), a console session, or nobody at all when access is open."""

    kind: str
    id: str
    name: str
    roles: frozenset[str]
    order_id_prefix: str = ""
    """Set on an API key bound to a part of the order ids (``--order-id-prefix``): the only
    orders it may place or change. Empty: any order its roles allow."""

    def check_order_id(self, order_id: str) -> None:
        if not order_id.startswith(self.order_id_prefix):
            raise OrderIdNotAllowedError(self.order_id_prefix)

    def actor(self) -> dict[str, Any]:
        """What an event's metadata records about who caused it."""
        return {"kind": self.kind, "id": self.id, "name": self.name}


OPEN_ACCESS = Principal(
    kind="open-access",
    id="loopback",
    name="open access (no credentials configured)",
    roles=frozenset(ROLES),
)
"""The caller when no credential is configured and the process listens on loopback only."""


def tool_actor(tool: str) -> dict[str, str]:
    """The actor of events an operator command writes (seed, snapshot, archive, keys)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = "unknown"
    return {"kind": "cli", "id": user, "name": f"orders {tool}"}


def is_loopback(host: str) -> bool:
    """Only this machine can reach an address like this (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
