"""What the domain refuses, one class per reason, so each boundary can translate it once."""

from __future__ import annotations

from collections.abc import Sequence


class DomainError(Exception):
    """A command the order's rules refuse."""


class InvalidOrderError(DomainError):
    """A value breaks a rule; ``field`` is its path in the command (``items.2.quantity``).

    ``errors`` holds every fault found (the first is ``field``/``message``), so a client
    learns them all in one round trip."""

    def __init__(self, field: str, message: str, *, more: Sequence[tuple[str, str]] = ()) -> None:
        self.errors: list[tuple[str, str]] = [(field, message), *more]
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.errors))
        self.field = field
        self.message = message

    @classmethod
    def of(cls, errors: Sequence[tuple[str, str]]) -> InvalidOrderError:
        (field, message), *more = errors
        return cls(field, message, more=more)


class TransitionNotAllowedError(DomainError):
    """The command is not allowed in the order's current status."""

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"cannot {action} an order that is {status}")
        self.action = action
        self.status = status


class RuleBrokenError(DomainError):
    """A command breaks one of the order's named rules; ``numbers`` are the amounts or
    quantities it compared (``{"requested": 3000, "refundable": 2000}``)."""

    def __init__(self, rule: str, message: str, **numbers: int | str) -> None:
        super().__init__(message)
        self.rule = rule
        self.numbers = numbers


class IdReusedError(DomainError):
    """A client-chosen id (a shipment's, a refund's, a return's) came again with other values."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field} {value!r} was already used with other values")
        self.field = field
        self.value = value


class UnknownPartError(DomainError):
    """The command names a shipment or a return the order does not have."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"the order has no {field.removesuffix('_id')} {value!r}")
        self.field = field
        self.value = value
