"""An agent who types a customer's e-mail address into the search box finds that customer's
orders, not every order whose words share "example" and "com"."""

from __future__ import annotations

import uuid

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
