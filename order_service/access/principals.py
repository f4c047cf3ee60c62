"""Callers and their roles, as every event's metadata records them (``actor``)."""

from __future__ import annotations

import getpass
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["checkout", "agent", "operator", "monitor"]
ROLES: tuple[Role, ...] = ("checkout", "agent", "operator", "monitor")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API key (``kind="api_key"``), a token's subject
    (``"oidc"``), a console session, or nobody at all when access is open."""

    kind: str
    id: str
    name: str
    roles: frozenset[str]

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
