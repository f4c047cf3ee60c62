"""Every projection by name: what ``orders project``, ``orders up`` and the status read."""

from __future__ import annotations

from projectors import order_search
from projectors.projection import Projection

PROJECTIONS: dict[str, Projection] = {
    projection.name: projection for projection in (order_search.PROJECTION,)
}


def projection(name: str) -> Projection:
    try:
        return PROJECTIONS[name]
    except KeyError:
        known = ", ".join(sorted(PROJECTIONS))
        raise KeyError(f"no projection {name!r} (known: {known})") from None
