"""Random command sequences against the aggregate: whatever is accepted or refused, the
invariants hold, and the events it recorded fold (and snapshot) to the same state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from order_service.domain.errors import DomainError
from order_service.domain.lifecycle import FinancialStatus, FulfillmentStatus, Quantity
from order_service.domain.order import Order, Status
from order_service.domain.values import Address
from tests.unit.test_order import placed

SKUS = ("SKU-1", "SKU-2")  # placed(): 2 x SKU-1, 1 x SKU-2, total 2100
Command = Callable[[Order], Any]

ids = st.sampled_from(["a", "b", "c"])
lines = st.lists(
    st.builds(Quantity, st.sampled_from(SKUS), st.integers(min_value=1, max_value=3)),
    min_size=1,
    max_size=2,
)
commands: st.SearchStrategy[Command] = st.one_of(
    st.just(lambda o: o.pay(amount=2100, currency="EUR", method="card", transaction_id="t")),
    st.builds(
        lambda i, items: (
            lambda o: o.ship_items(
                shipment_id=i, carrier="DHL", tracking_number=f"T{i}", items=items
            )
        ),
        ids,
        st.none() | lines,
    ),
    st.just(lambda o: o.ship(carrier="UPS", tracking_number="U1")),
    st.builds(lambda i: lambda o: o.deliver_shipment(shipment_id=i), ids),
    st.just(lambda o: o.deliver()),
    st.just(lambda o: o.cancel(reason="changed mind")),
    st.builds(
        lambda i, amount: lambda o: o.refund(refund_id=i, amount=amount, reason="r"),
        ids,
        st.integers(min_value=1, max_value=2500),
    ),
    st.builds(
        lambda i, items: lambda o: o.request_return(return_id=i, items=items, reason="r"),
        ids,
        lines,
    ),
    st.builds(lambda i: lambda o: o.receive_return(return_id=i), ids),
    st.just(
        lambda o: o.change_shipping_address(
            address=Address("Ada", "2 High St", "Leeds", "LS1", "GB")
        )
    ),
)


def check_invariants(order: Order) -> None:
    assert 0 <= order.refunded <= order.paid
    ordered, shipped = order.ordered(), order.shipped()
    assert all(shipped[sku] <= ordered[sku] for sku in shipped)
    delivered, returned = order.delivered(), order.returned()
    assert all(returned[sku] <= delivered[sku] for sku in returned)
    if order.status is Status.CANCELLED:
        assert not order.shipments
        assert order.refund_due == order.paid - order.refunded
    else:
        assert order.refund_due == 0
        assert order.status is order.derived_status()
    everything_shipped = shipped == ordered
    assert (order.status is Status.PARTIALLY_SHIPPED) == (
        bool(order.shipments) and not everything_shipped and order.status is not Status.CANCELLED
    )
    if order.status in (Status.SHIPPED, Status.DELIVERED):
        assert everything_shipped
    assert (order.fulfillment_status is FulfillmentStatus.FULFILLED) == everything_shipped
    assert (order.financial_status is FinancialStatus.UNPAID) == (order.payment is None)
    if order.financial_status is FinancialStatus.REFUNDED:
        assert order.refunded == order.paid


@settings(max_examples=300, deadline=None)
@given(st.lists(commands, max_size=14))
def test_random_command_sequences_keep_the_order_consistent(sequence: list[Command]) -> None:
    order = placed()
    for command in sequence:
        before = order.snapshot_state()
        try:
            command(order)
        except DomainError:
            assert order.snapshot_state() == before  # a refusal changes nothing
        check_invariants(order)
    replayed: Order | None = None
    for event in order.collect_events():
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert replayed.snapshot_state() == order.snapshot_state()
    restored = Order.from_snapshot(order.id, order.version, order.snapshot_state())
    assert restored.snapshot_state() == order.snapshot_state()
