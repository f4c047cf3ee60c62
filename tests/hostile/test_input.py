"""Input that once broke the API, each answered with a clear problem over real HTTP."""

from __future__ import annotations

import base64
import json

import httpx
import orjson

from tests.factories import new_order_id, pay_body, place_body
from tests.http.test_commands_api import assert_problem
from tests.servers import Server


def _placed(server: Server) -> str:
    response = httpx.post(f"{server.url}/orders", json=place_body(new_order_id()))
    assert response.status_code == 201
    return str(response.json()["order_id"])


def test_a_unicode_digit_in_if_match_is_400(server: Server) -> None:
    order_id = _placed(server)

    response = httpx.post(
        f"{server.url}/orders/{order_id}/pay",
        json=pay_body(),
        headers={"If-Match": '"¹"'.encode("latin-1")},
    )

    assert_problem(response, 400, "invalid-header")


def test_a_huge_integer_with_an_idempotency_key_is_422_naming_the_field(server: Server) -> None:
    order_id = _placed(server)
    body = json.dumps({**pay_body(), "amount": 18446744073709551616}).encode()

    response = httpx.post(
        f"{server.url}/orders/{order_id}/pay",
        content=body,
        headers={"Idempotency-Key": "huge-1", "Content-Type": "application/json"},
    )

    problem = assert_problem(response, 422, "validation")
    assert [error["field"] for error in problem["errors"]] == ["amount"]


def test_a_utf16_body_is_400_not_accepted(server: Server) -> None:
    body = orjson.dumps(place_body(new_order_id())).decode().encode("utf-16")

    response = httpx.post(
        f"{server.url}/orders", content=body, headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 400, "malformed-json")


def test_weak_and_wildcard_if_none_match_revalidate(server: Server) -> None:
    order_id = _placed(server)
    url = f"{server.url}/orders/{order_id}?min_version=0&wait_ms=5000"
    etag = httpx.get(url).headers["etag"]

    weak = httpx.get(url, headers={"If-None-Match": f"W/{etag}"})
    wildcard = httpx.get(url, headers={"If-None-Match": "*"})
    other = httpx.get(url, headers={"If-None-Match": '"999"'})

    assert (weak.status_code, wildcard.status_code, other.status_code) == (304, 304, 200)


def test_head_answers_like_get_without_a_body(server: Server) -> None:
    get = httpx.get(f"{server.url}/orders/search")
    head = httpx.head(f"{server.url}/orders/search")

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


def test_a_trailing_slash_is_404_and_never_echoes_the_host(server: Server) -> None:
    response = httpx.get(
        f"{server.url}/orders/search/", headers={"Host": "localhost"}, follow_redirects=False
    )
    foreign = httpx.get(
        f"{server.url}/orders/search/", headers={"Host": "evil.example"}, follow_redirects=False
    )

    assert_problem(response, 404, "not-found")
    assert "location" not in response.headers
    assert_problem(foreign, 421, "host-not-served")
    assert "location" not in foreign.headers


def test_an_overlong_order_id_is_422(server: Server) -> None:
    for path in ("/orders/{}", "/orders/{}/history"):
        response = httpx.get(server.url + path.format("x" * 65))
        assert_problem(response, 422, "validation")


def test_a_bare_number_is_not_a_date(server: Server) -> None:
    response = httpx.get(f"{server.url}/orders/search", params={"placed_from": "-1"})

    problem = assert_problem(response, 422, "validation")
    assert problem["errors"][0]["field"] == "placed_from"


def test_dates_and_times_still_filter(server: Server) -> None:
    for value in ("2024-01-31", "2024-01-31T12:00:00Z", "2024-01-31T12:00:00+02:00"):
        response = httpx.get(f"{server.url}/orders/search", params={"placed_from": value})
        assert response.status_code == 200, response.text


def test_a_forged_cursor_of_the_right_shape_is_422(server: Server) -> None:
    for sort, value in [("-placed_at", 12345), ("-total", "lots"), ("-total", True)]:
        field = sort.removeprefix("-")
        raw = orjson.dumps([field, True, value, "ord-1"])
        forged = base64.urlsafe_b64encode(raw).decode().rstrip("=")

        response = httpx.get(f"{server.url}/orders/search", params={"sort": sort, "cursor": forged})

        problem = assert_problem(response, 422, "validation")
        assert problem["errors"][0]["field"] == "cursor"
