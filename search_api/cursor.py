"""Opaque pagination cursors: the last hit's sort key, signed by the sort it belongs to.

By relevance the key is the pair ``[score, placed_at]``: scores are sums of fixed weights,
so the same hit keeps its key from one page to the next.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Any

import orjson

FIRST, LAST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2262, 4, 11, tzinfo=UTC)
"""The times Elasticsearch's nanosecond dates hold (the search read model's sort fields)."""
UTC_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+]00:00)"
)
"""A time as the documents hold it, and as every read model parses it."""


class InvalidCursorError(ValueError):
    pass


def in_searchable_range(value: str) -> bool:
    """A UTC time, as the documents write it, that every read model can compare."""
    if not UTC_TIME.fullmatch(value):
        return False
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return False
    return FIRST <= instant < LAST


def encode(sort: str, descending: bool, value: Any, order_id: str) -> str:
    raw = orjson.dumps([sort, descending, value, order_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str, descending: bool) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        given_sort, given_descending, value, order_id = orjson.loads(raw)
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidCursorError("is not a cursor this API issued") from error
    if (given_sort, given_descending) != (sort, descending):
        raise InvalidCursorError("belongs to another sort order; start again without it")
    if not isinstance(order_id, str) or not _fits(sort, value):
        raise InvalidCursorError("is not a cursor this API issued")
    return (tuple(value) if sort == "relevance" else value), order_id


MAX_SCORE = 10_000


def _fits(sort: str, value: Any) -> bool:
    """The sort value has the type its field has in every document."""
    if sort == "relevance":
        if not isinstance(value, list) or len(value) != 2:
            return False
        score, placed_at = value
        scored = type(score) in (int, float) and 0 <= score <= MAX_SCORE
        return scored and _instant(placed_at)
    if value is None:
        return True
    if sort == "total":
        return type(value) is int and 0 <= value < 2**63
    return _instant(value)


def _instant(value: Any) -> bool:
    return value is None or (
        isinstance(value, str) and len(value) <= 40 and in_searchable_range(value)
    )
