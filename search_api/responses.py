"""What the search API and the operations endpoints answer, declared for the OpenAPI document.

The routes serialise their bodies themselves (``JSONBody``, one pass, timed), so these models
document the shapes rather than validate them; ``tests/http/test_openapi_document.py`` checks
that real answers fit them. Extra fields are allowed: a document grows with the events it folds.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Open = ConfigDict(extra="allow")


class AsOf(BaseModel):
    """How fresh an answer is: the read model's checkpoint and how far behind the log it is."""

    model_config = Open
    position: int | None = Field(description="The last log position the read model includes.")
    updated_at: str | None = Field(description="When the projection last wrote (ISO 8601).")
    lag_ms: int | None = Field(description="Age of the oldest event not yet included; 0: none.")
    generation: str | None = None
    stale: bool | None = Field(
        None, description="With min_position: true when it was not reached within wait_ms."
    )


class CustomerOut(BaseModel):
    model_config = Open
    id: str
    name: str | None = None
    email: str | None = None


class OrderSummary(BaseModel):
    """A search hit."""

    model_config = Open
    order_id: str = Field(examples=["ord-2026-000123"])
    status: str | None = Field(None, examples=["paid"])
    customer: CustomerOut | None = None
    total: int | None = Field(None, description="Integer minor units.", examples=[2500])
    currency: str | None = Field(None, examples=["EUR"])
    item_count: int | None = Field(None, examples=[2])
    placed_at: str | None = None
    updated_at: str | None = None
    version: int = Field(description="The order's stream revision (its ETag).", examples=[1])
    projection_error: str | None = Field(
        None, description="Set when an event of this order could not be applied."
    )


class SearchOut(BaseModel):
    total: int = Field(description="Matches in all (exact up to the engine's count limit).")
    results: list[OrderSummary]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last.")
    as_of: AsOf


class OrderOut(BaseModel):
    """The whole order document."""

    model_config = Open
    order_id: str = Field(examples=["ord-2026-000123"])
    version: int = Field(examples=[1])
    position: int | None = None
    status: str | None = Field(None, examples=["paid"])
    customer: CustomerOut | None = None
    items: list[dict[str, Any]] | None = None
    total: int | None = Field(None, description="Integer minor units.", examples=[2500])
    currency: str | None = Field(None, examples=["EUR"])
    shipping_address: dict[str, Any] | None = None
    payment: dict[str, Any] | None = None
    shipment: dict[str, Any] | None = None
    notes: list[dict[str, Any]] | None = None
    projection_error: str | None = None
    stale: bool = Field(description="With min_version: true when it was not reached in time.")
    consistency: Literal["eventual", "strong"]
    as_of: AsOf | None = Field(None, description="Eventual reads only.")


class HistoryEvent(BaseModel):
    revision: int
    type: str = Field(examples=["OrderPaid"])
    data: dict[str, Any]
    metadata: Any
    recorded_at: str
    position: int
    archived: bool = Field(description="Read from the cold archive.")


class HistoryOut(BaseModel):
    order_id: str
    events: list[HistoryEvent]


class CustomerOrderOut(BaseModel):
    model_config = Open
    order_id: str
    status: str
    financial_status: str
    fulfillment_status: str
    total: int = Field(description="Minor units of the currency.")
    currency: str
    placed_at: str


class CustomerTotalsOut(BaseModel):
    orders: int
    spent: int = Field(description="Paid, in minor units.")
    refunded: int = Field(description="Refunded, in minor units.")


class CustomerOrdersOut(BaseModel):
    """The customer-orders projection's document of one customer."""

    model_config = Open
    customer_id: str
    orders: list[CustomerOrderOut] = Field(description="Newest first.")
    totals: dict[str, CustomerTotalsOut] = Field(description="Per ISO 4217 currency.")
    as_of: AsOf


class DailySalesRow(BaseModel):
    day: str = Field(description="The UTC day, YYYY-MM-DD.")
    currency: str
    orders_placed: int
    placed_total: int
    orders_paid: int
    paid_total: int
    refunds: int
    refunded_total: int
    orders_cancelled: int


class DailySalesOut(BaseModel):
    rows: list[DailySalesRow] = Field(description="Days without orders are left out.")
    as_of: AsOf


class ProjectionOut(BaseModel):
    model_config = Open
    name: str = Field(examples=["order-search"])
    checkpoint: int | None
    head: int | None
    lag_events: int
    lag_ms: int
    state: str
    dead_letters: int
    last_error: str | None
    updated_at: str | None
    generation: str | None = None
    progress: dict[str, Any] | None = None


class ProjectionsOut(BaseModel):
    projections: list[ProjectionOut]


class GenerationOut(BaseModel):
    model_config = Open
    name: str
    state: str
    created_at: str
    updated_at: str
    retired_at: str | None = None
    progress: dict[str, Any] = {}
    schema_version: int | None = None


class RebuildsOut(BaseModel):
    projection: str
    active: str
    rebuilding: bool
    rebuilds: list[ProjectionOut]


class GenerationsOut(BaseModel):
    projection: str = "order-search"
    active: str | None
    generations: list[GenerationOut]


class DeadLetterOut(BaseModel):
    order_id: str
    position: int
    stream: str
    revision: int
    event_type: str
    error: str
    recorded_at: str


class DeadLettersOut(BaseModel):
    total: int
    dead_letters: list[DeadLetterOut]


class RetryOut(BaseModel):
    repaired: list[str] = Field(description="Orders whose documents now apply every event.")
    still_failing: dict[str, str] = Field(description="Order id: the error it still meets.")


class ErasureOut(BaseModel):
    model_config = Open
    customer_id: str
    dry_run: bool
    orders: list[str]
    complete: bool = Field(description="false: a copy could not be reached (see unreachable).")
    unreachable: dict[str, str]


class ReprojectedOut(BaseModel):
    order_id: str
    version: int


class HealthOut(BaseModel):
    model_config = Open
    status: str = Field(examples=["ok"])
