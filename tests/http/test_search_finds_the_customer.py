"""An agent who types a customer's e-mail address into the search box finds that customer's
orders, not every order whose words share "example" and "com"; other text is ranked by
relevance (a whole tracking number or order id first, the customer before products), and
relevance pages neither repeat nor skip."""

from __future__ import annotations

import uuid

from tests.factories import pay_body
from tests.http.test_search_api import api, place, search
from tests.inprocess import Api

__all__ = ["api"]  # the fixture, on both read models


def test_an_email_address_as_free_text_finds_exactly_that_customer(api: Api) -> None:
    domain = f"{uuid.uuid4().hex[:8]}.example.com"
    tim = place(api, customer={"id": "c-tim", "name": "Tim Berners-Lee", "email": f"tim@{domain}"})
    others = [
        place(api, customer={"id": f"c-{n}", "name": f"Tim Other {n}", "email": f"x{n}@{domain}"})
        for n in range(3)
    ]

    found = search(api, after=others[-1], q=f"  TIM@{domain} ")
    by_words = search(api, after=others[-1], q="tim")

    assert [hit["order_id"] for hit in found["results"]] == [tim["order_id"]]
    assert found["total"] == 1
    assert len(by_words["results"]) == 4  # words still search the words


def test_by_relevance_by_default_the_whole_tracking_number_or_order_id_comes_first(
    api: Api,
) -> None:
    marker = uuid.uuid4().hex[:6].upper()
    target, decoy = place(api), place(api)  # the decoy is newer: first by date
    paid = [api.http.post(f"/orders/{o['order_id']}/pay", json=pay_body()) for o in (target, decoy)]
    assert all(response.status_code == 200 for response in paid)
    for order, tracking in ((target, f"ZX{marker} 12"), (decoy, f"ZX{marker} 123")):
        response = api.http.post(
            f"/orders/{order['order_id']}/ship",
            json={"carrier": "DHL", "tracking_number": tracking},
        )
        assert response.status_code == 200, response.text
    last = response.json()

    search(api, after=last, q=f"zx{marker}")
    by_tracking = search(api, q=f"zx{marker} 12")
    by_date = search(api, q=f"zx{marker} 12", sort="-placed_at")
    by_id = search(api, q=target["order_id"])

    assert [hit["order_id"] for hit in by_tracking["results"]] == [
        target["order_id"],
        decoy["order_id"],
    ]
    assert next(hit["order_id"] for hit in by_date["results"]) == decoy["order_id"]
    assert next(hit["order_id"] for hit in by_id["results"]) == target["order_id"]


def test_relevance_pages_neither_repeat_nor_skip_and_the_customer_comes_first(api: Api) -> None:
    word = f"Quill{uuid.uuid4().hex[:6]}"
    customer = {"id": "c-q", "name": f"{word} Person", "email": "q@example.com"}
    product = {"sku": "SKU-Q", "name": f"{word} pen", "quantity": 1, "unit_price": 300}
    by_name = [place(api, customer=customer) for _ in range(3)]
    by_product = [place(api, items=[product]) for _ in range(4)]  # newer, yet after
    search(api, after=by_product[-1], q=word)

    seen: list[str] = []
    page = search(api, q=word, limit=2)
    while True:
        seen += [hit["order_id"] for hit in page["results"]]
        if page["next_cursor"] is None:
            break
        page = search(api, q=word, limit=2, cursor=page["next_cursor"])

    assert seen == [p["order_id"] for p in [*reversed(by_name), *reversed(by_product)]]
    assert (
        search(api, q=word, sort="relevance", limit=100)["results"]
        == search(api, q=word, limit=100)["results"]
    )
