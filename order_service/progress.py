"""How long work reports its progress: the packages call ``report(Tick)``, the CLI draws it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    phase: str
    """What is being done, in words an operator reads ("archiving", "projecting")."""
    done: int
    total: int | None
    """None when the end is not known."""
    events: int = 0
    """Events handled in this phase so far (the rate the operator sees)."""


Report = Callable[[Tick], None]


def silent(_: Tick) -> None:
    return None
