"""What the domain refuses, one class per reason, so each boundary can translate it once."""

from __future__ import annotations


class DomainError(Exception):
    """A command the order's rules refuse."""


class InvalidOrderError(DomainError):
    """A value breaks a rule; ``field`` is its path in the command (``items.2.quantity``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TransitionNotAllowedError(DomainError):
    """The command is not allowed in the order's current status."""

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} an order that is {status}")
        self.action = action
        self.status = status
