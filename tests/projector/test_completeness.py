"""Every event type is handled or explicitly ignored by every projection: checked here, in CI,
not found out at run time when a new type reaches a projector."""

from __future__ import annotations

import pytest

from order_service.domain.order import Order
from projectors.projection import Projection
from projectors.registry import PROJECTIONS

EVENT_TYPES = {cls.TYPE for cls in Order.EVENTS}


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_every_event_type_is_handled_or_ignored(name: str) -> None:
    projection = PROJECTIONS[name]
    missing = EVENT_TYPES - projection.covers
    assert not missing, f"{name} neither handles nor ignores {sorted(missing)}"
    stale = projection.covers - EVENT_TYPES
    assert not stale, f"{name} names event types that do not exist: {sorted(stale)}"


def test_a_type_both_handled_and_ignored_is_refused() -> None:
    with pytest.raises(ValueError, match="both handled and ignored"):
        Projection(
            name="x",
            schema_version=1,
            handles={"OrderPlaced": lambda document, data: document},
            ignores=frozenset({"OrderPlaced"}),
        )


def test_a_missing_type_is_reported() -> None:
    partial = Projection(
        name="partial",
        schema_version=1,
        handles={"OrderPlaced": lambda document, data: document},
        ignores=frozenset(),
    )
    assert EVENT_TYPES - partial.covers == EVENT_TYPES - {"OrderPlaced"}
