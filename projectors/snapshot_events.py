"""An order's snapshot told as the events that made it, for projections to fold.

A snapshot holds the aggregate's state, not its events. For the event types whose effect the
state keeps whole (placement, payment, each shipment and delivery, each refund, the
cancellation), this gives the data of one such event each, as an upcast event of that type
carries it, in an order that folds to the same document: shipments in the order they were
made, the delivery that completed the order last, refunds in order. Types the state keeps
only in part (notes: their count; returns and address changes: the latest state; erasure)
are not told, so only projections that handle none of them can start from a snapshot
(``Projection.from_snapshots``). Personal values stay as the snapshot has them (sealed).
"""

from __future__ import annotations

from typing import Any

TOLD = frozenset(
    {
        "OrderPlaced",
        "OrderPaid",
        "OrderShipped",
        "OrderDelivered",
        "OrderRefunded",
        "OrderCancelled",
    }
)
"""The event types a snapshot can be told as."""


def snapshot_events(snapshot: dict[str, Any]) -> list[tuple[str, dict[str, Any]]] | None:
    """The (type, data) pairs of ``snapshot`` (``{order_id, version, position, state}``);
    None for an older snapshot format, which lacks shipments or refunds."""
    state = snapshot["state"]
    if "shipments" not in state or "refunds" not in state:
        return None
    at = state["transitions"]
    told: list[tuple[str, dict[str, Any]]] = [
        (
            "OrderPlaced",
            {
                "order_id": snapshot["order_id"],
                **{name: state[name] for name in ("customer", "items", "total", "currency")},
                "shipping_address": state["shipping_address"],
                "placed_at": at["placed_at"],
            },
        )
    ]
    if state["payment"] is not None:
        told.append(("OrderPaid", {**state["payment"], "paid_at": at["paid_at"]}))
    shipments = state["shipments"]
    told += [("OrderShipped", shipment) for shipment in shipments]
    completed = at.get("delivered_at")
    delivered = sorted(
        (s for s in shipments if s["delivered_at"]), key=lambda s: s["delivered_at"] == completed
    )
    told += [
        ("OrderDelivered", {"shipment_id": s["shipment_id"], "delivered_at": s["delivered_at"]})
        for s in delivered
    ]
    told += [("OrderRefunded", {**r, "currency": state["currency"]}) for r in state["refunds"]]
    if "cancelled_at" in at:
        # The reason is personal data: a sealed snapshot has it in its envelope only.
        cancelled = {"reason": state.get("cancel_reason"), "cancelled_at": at["cancelled_at"]}
        told.append(("OrderCancelled", cancelled))
    return told
