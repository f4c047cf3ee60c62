"""Whatever a client sends, the answer is a success or a problem, never a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import new_order_id, pay_body, place_body
from tests.inprocess import Api

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
PATHS = st.sampled_from(
    [
        "/orders",
        "/orders/{id}/pay",
        "/orders/{id}/ship",
        "/orders/{id}/deliver",
        "/orders/{id}/cancel",
    ]
)
FIELDS = [
    "order_id",
    "customer",
    "items",
    "currency",
    "shipping_address",
    "amount",
    "carrier",
    "reason",
]


def mutated(body: dict[str, Any], draw: Any) -> dict[str, Any]:
    changed = dict(body)
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        changed[field] = draw(JSON)
    return changed


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), path=PATHS)
def test_random_bodies_and_headers_get_an_answer_not_a_500(api: Api, data: Any, path: str) -> None:
    order_id = data.draw(st.sampled_from([new_order_id(), "x" * 70, "a b", "%2F"]))
    base = place_body(order_id) if path == "/orders" else pay_body()
    body = data.draw(st.one_of(JSON, st.just(base).map(lambda b: mutated(b, data.draw))))
    headers = data.draw(
        st.dictionaries(
            st.sampled_from(["If-Match", "Idempotency-Key", "X-Correlation-ID"]),
            st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30),
            max_size=3,
        )
    )

    response = api.http.post(path.format(id=order_id), json=body, headers=headers)

    assert response.status_code < 500 or response.status_code == 503, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


SEARCH_PARAMS = [
    "q",
    "status",
    "customer_id",
    "email",
    "sku",
    "placed_from",
    "placed_to",
    "min_total",
    "max_total",
    "sort",
    "limit",
    "cursor",
    "min_position",
    "wait_ms",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from([str(2**63), str(2**64 + 1), str(-(2**63) - 1)]),
    st.sampled_from(
        ["-placed_at", "total", "2025-01-01", "2025-01-01T00:00:00Z", "placed", "0", "", "null"]
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(st.sampled_from(SEARCH_PARAMS), VALUES, max_size=6),
    order_id=st.text(max_size=30),
)
def test_random_search_parameters_get_an_answer_not_a_500(
    api: Api, params: dict[str, str], order_id: str
) -> None:
    params.pop(
        "wait_ms", None
    )  # waiting is tested elsewhere; here it would only slow the search down
    search = api.http.get("/orders/search", params=params)
    one = api.http.get(f"/orders/{quote(order_id, safe='') or 'x'}", params=params)

    for response in (search, one):
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"
