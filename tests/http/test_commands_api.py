"""Checkout's command API over real HTTP: statuses, headers and problem+json bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from order_service.access.principals import OPEN_ACCESS
from order_service.bootstrap import bootstrap
from order_service.events import Causation, current_data
from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.eventstore.port import RecordedEvent
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.http.app import command_app, embedded_app
from order_service.http.command_request import request_hash, scoped_key
from order_service.http.models import PayIn, PlaceOrderIn
from order_service.settings import Settings
from tests.factories import TOTAL, new_order_id, pay_body, place_body, place_command, ship_body
from tests.inprocess import Api, serving
from tests.servers import free_port

PROBLEM = "application/problem+json"


class CountingStore(SQLiteEventStore):
    """The SQLite store, counting the reads the command path makes."""

    reads = 0

    async def read_stream_async(self, stream: str, **options: Any) -> list[RecordedEvent]:
        self.reads += 1
        return await super().read_stream_async(stream, **options)


def place(api: Api, **headers: str) -> httpx.Response:
    return api.http.post("/orders", json=place_body(new_order_id()), headers=headers)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    return body


def test_placing_an_order_answers_201_with_location_and_etag(api: Api) -> None:
    order_id = new_order_id()

    response = api.http.post("/orders", json=place_body(order_id))

    assert response.status_code == 201
    assert response.headers["location"] == f"/orders/{order_id}"
    assert response.headers["etag"] == '"0"'
    body = response.json()
    assert body == {
        "order_id": order_id,
        "status": "placed",
        "version": 0,
        "position": body["position"],
    }
    assert body["position"] > 0


def test_an_order_id_is_generated_when_absent(api: Api) -> None:
    response = api.http.post("/orders", json=place_body())

    assert response.status_code == 201
    assert response.headers["location"] == f"/orders/{response.json()['order_id']}"


def test_the_whole_lifecycle_returns_versions_and_growing_positions(api: Api) -> None:
    order_id = place(api).json()["order_id"]

    paid = api.http.post(f"/orders/{order_id}/pay", json=pay_body())
    shipped = api.http.post(f"/orders/{order_id}/ship", json=ship_body())
    delivered = api.http.post(f"/orders/{order_id}/deliver")

    assert [r.status_code for r in (paid, shipped, delivered)] == [200, 200, 200]
    assert [r.json()["status"] for r in (paid, shipped, delivered)] == [
        "paid",
        "shipped",
        "delivered",
    ]
    assert [r.json()["version"] for r in (paid, shipped, delivered)] == [1, 2, 3]
    assert paid.json()["position"] < shipped.json()["position"] < delivered.json()["position"]
    assert delivered.headers["etag"] == '"3"'


def test_cancel_and_deliver_with_a_time(api: Api) -> None:
    cancelled_id = place(api).json()["order_id"]
    cancelled = api.http.post(f"/orders/{cancelled_id}/cancel", json={"reason": "duplicate"})
    assert cancelled.json()["status"] == "cancelled"

    order_id = place(api).json()["order_id"]
    api.http.post(f"/orders/{order_id}/pay", json=pay_body())
    api.http.post(f"/orders/{order_id}/ship", json=ship_body())
    delivered = api.http.post(
        f"/orders/{order_id}/deliver", json={"delivered_at": "2099-01-01T00:00:00Z"}
    )
    assert_problem(delivered, 422, "validation")
    at_a_time = api.http.post(f"/orders/{order_id}/deliver", json={"delivered_at": None})
    assert at_a_time.json()["status"] == "delivered"


def test_notes_can_be_added_to_a_final_order(api: Api) -> None:
    order_id = place(api).json()["order_id"]
    api.http.post(f"/orders/{order_id}/cancel", json={"reason": "duplicate"})

    noted = api.http.post(f"/orders/{order_id}/notes", json={"text": "Refund sent."})

    assert noted.status_code == 200
    assert noted.json()["status"] == "cancelled"
    assert noted.json()["version"] == 2
    [note] = api.container.event_store.read_stream(f"order-{order_id}", from_revision=2)
    assert note.type == "OrderNoteAdded"
    assert b"Refund sent." not in note.data  # the text is personal data: sealed
    assert current_data(note, api.container.personal)["text"] == "Refund sent."
    # Access is open in this test: the author is who the process says the caller is.
    assert orjson.loads(note.data)["author"] == OPEN_ACCESS.name


def test_a_note_with_an_author_field_is_refused(api: Api) -> None:
    order_id = place(api).json()["order_id"]

    noted = api.http.post(
        f"/orders/{order_id}/notes", json={"author": "Head of Customer Service", "text": "x"}
    )

    problem = assert_problem(noted, 422, "validation")
    assert problem["errors"][0]["field"] == "author"


def test_the_correlation_id_is_echoed_and_recorded_in_event_metadata(api: Api) -> None:
    response = place(api, **{"X-Correlation-ID": "checkout-7f3a"})
    order_id = response.json()["order_id"]

    assert response.headers["x-correlation-id"] == "checkout-7f3a"
    [event] = api.container.event_store.read_stream(f"order-{order_id}")
    metadata = orjson.loads(event.metadata)
    assert metadata["$correlationId"] == "checkout-7f3a"
    assert metadata["$causationId"]
    assert metadata["schema_version"] == 2
    assert place(api).headers["x-correlation-id"]


def test_malformed_json_is_400(api: Api) -> None:
    response = api.http.post(
        "/orders", content=b'{"customer": ', headers={"content-type": "application/json"}
    )

    assert_problem(response, 400, "malformed-json")
    json = {"content-type": "application/json"}
    assert_problem(
        api.http.post("/orders", content=b"not json", headers=json), 400, "malformed-json"
    )
    # Without its content type a body is not parsed at all (a page could send it cross-site).
    assert_problem(api.http.post("/orders", content=b"not json"), 415, "unsupported-media-type")


def test_validation_errors_are_422_with_field_paths(api: Api) -> None:
    body = place_body(new_order_id())
    body["items"][1]["quantity"] = "3"
    body["items"][0]["unit_price"] = 4.5
    del body["customer"]["email"]

    problem = assert_problem(api.http.post("/orders", json=body), 422, "validation")

    fields = {error["field"] for error in problem["errors"]}
    assert fields == {"items.1.quantity", "items.0.unit_price", "customer.email"}


def test_domain_rules_are_422_with_the_field_at_fault(api: Api) -> None:
    body = place_body(new_order_id())
    body["items"][1]["quantity"] = 0

    problem = assert_problem(api.http.post("/orders", json=body), 422, "validation")

    assert problem["errors"] == [
        {"field": "items.1.quantity", "message": "must be between 1 and 1000000"}
    ]


def test_a_payment_that_does_not_match_the_total_is_422(api: Api) -> None:
    order_id = place(api).json()["order_id"]

    problem = assert_problem(
        api.http.post(f"/orders/{order_id}/pay", json=pay_body(amount=TOTAL - 1)), 422, "validation"
    )

    assert problem["errors"][0]["field"] == "amount"


def test_an_unknown_order_is_404(api: Api) -> None:
    problem = assert_problem(
        api.http.post("/orders/no-such-order/pay", json=pay_body()), 404, "order-not-found"
    )

    assert problem["order_id"] == "no-such-order"


def test_a_transition_not_allowed_is_409_and_says_the_status(api: Api) -> None:
    order_id = place(api).json()["order_id"]

    problem = assert_problem(
        api.http.post(f"/orders/{order_id}/ship", json=ship_body()), 409, "transition-not-allowed"
    )

    assert problem["order_status"] == "placed"


def test_placing_an_existing_order_id_is_409(api: Api) -> None:
    order_id = place(api).json()["order_id"]

    assert_problem(api.http.post("/orders", json=place_body(order_id)), 409, "order-exists")


def test_if_match_makes_a_command_conditional(api: Api) -> None:
    order_id = place(api).json()["order_id"]

    stale = api.http.post(f"/orders/{order_id}/pay", json=pay_body(), headers={"If-Match": '"5"'})
    problem = assert_problem(stale, 412, "version-mismatch")
    assert problem["current_version"] == 0

    fresh = api.http.post(f"/orders/{order_id}/pay", json=pay_body(), headers={"If-Match": '"0"'})
    assert fresh.status_code == 200
    assert fresh.json()["version"] == 1
    assert_problem(
        api.http.post(f"/orders/{order_id}/ship", json=ship_body(), headers={"If-Match": "soon"}),
        400,
        "invalid-header",
    )


def test_a_body_over_the_limit_is_413(api: Api, settings: Settings) -> None:
    body = place_body(new_order_id())
    body["items"][0]["name"] = "x" * settings.max_body_bytes

    assert_problem(api.http.post("/orders", json=body), 413, "body-too-large")


def test_unknown_routes_are_problems_too(api: Api) -> None:
    assert_problem(api.http.get("/nowhere"), 404, "not-found")
    assert_problem(api.http.delete("/orders"), 405, "method-not-allowed")


def test_an_event_store_unreachable_from_the_start_is_503(settings: Settings) -> None:
    down = EventStoreDBEventStore(f"esdb://127.0.0.1:{free_port()}?Tls=false")
    container = bootstrap(settings, event_store=down)
    with serving(command_app(container), container) as api:
        response = api.http.post("/orders", json=place_body(new_order_id()))
        ready = api.http.get("/readyz")

    # Not even the API keys can be read, so whether access is open cannot be known.
    assert_problem(response, 503, "access-unavailable")
    assert response.headers["retry-after"]
    assert ready.status_code == 503


def test_an_event_store_lost_while_serving_is_503_and_nothing_is_appended(api: Api) -> None:
    api.container.event_store.close()

    response = api.http.post("/orders", json=place_body(new_order_id()))

    problem = assert_problem(response, 503, "event-store-unavailable")
    assert "nothing was appended" in problem["title"]
    assert response.headers["retry-after"]


class TestIdempotencyKeys:
    def test_the_same_key_and_body_replays_the_first_response(self, api: Api) -> None:
        body = place_body(new_order_id())
        first = api.http.post("/orders", json=body, headers={"Idempotency-Key": "k-place-1"})

        again = api.http.post("/orders", json=body, headers={"Idempotency-Key": "k-place-1"})

        assert again.status_code == first.status_code == 201
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["location"] == first.headers["location"]
        assert len(api.container.event_store.read_stream(f"order-{body['order_id']}")) == 1

    def test_the_record_is_committed_with_the_events_and_nowhere_else(self, api: Api) -> None:
        order_id = place(api).json()["order_id"]
        store = api.container.event_store
        before = store.head_position()

        paid = api.http.post(
            f"/orders/{order_id}/pay", json=pay_body(), headers={"Idempotency-Key": "k-one"}
        )

        [appended] = store.read_all(after=before, limit=10)  # one event, one commit
        assert appended.stream == f"order-{order_id}"
        record = orjson.loads(appended.metadata)["idempotency"]
        assert record["status"] == paid.json()["status"] == "paid"
        assert record["request"] == request_hash(
            "POST", f"/orders/{order_id}/pay", None, PayIn.model_validate(pay_body()).model_dump()
        )

    def test_the_same_key_with_another_body_is_422(self, api: Api) -> None:
        order_id = place(api).json()["order_id"]
        api.http.post(
            f"/orders/{order_id}/pay", json=pay_body(), headers={"Idempotency-Key": "k-pay"}
        )

        other = api.http.post(
            f"/orders/{order_id}/pay",
            json={**pay_body(), "method": "ideal"},
            headers={"Idempotency-Key": "k-pay"},
        )

        problem = assert_problem(other, 422, "idempotency-key-reused")
        assert "k-pay" not in problem["detail"]  # not echoed, nor the actor it is scoped to

    def test_the_same_key_on_another_command_that_would_succeed_is_422_and_appends_nothing(
        self, api: Api
    ) -> None:
        order_id = place(api).json()["order_id"]
        headers = {"Idempotency-Key": "k-twice"}
        api.http.post(f"/orders/{order_id}/pay", json=pay_body(), headers=headers)

        shipped = api.http.post(f"/orders/{order_id}/ship", json=ship_body(), headers=headers)

        assert_problem(shipped, 422, "idempotency-key-reused")
        events = api.container.event_store.read_stream(f"order-{order_id}")
        assert [event.type for event in events] == ["OrderPlaced", "OrderPaid"]

    @pytest.mark.parametrize(
        ("path", "body"),
        [("/notes", {"text": "call back"}), ("/cancel", {"reason": "asked"})],
        ids=["a note would be added again", "a cancel would change nothing"],
    )
    def test_a_retry_replays_where_running_again_would_succeed(
        self, api: Api, path: str, body: dict[str, str]
    ) -> None:
        order_id = place(api).json()["order_id"]
        headers = {"Idempotency-Key": f"k{path}"}
        first = api.http.post(f"/orders/{order_id}{path}", json=body, headers=headers)

        again = api.http.post(f"/orders/{order_id}{path}", json=body, headers=headers)

        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        assert len(api.container.event_store.read_stream(f"order-{order_id}")) == 2

    def test_a_new_keyed_command_on_a_cached_order_reads_nothing_and_commits_once(
        self, settings: Settings
    ) -> None:
        store = CountingStore(settings.data_dir / "events.db")
        container = bootstrap(settings, event_store=store)
        with serving(embedded_app(container), container) as api:
            order_id = place(api).json()["order_id"]
            store.reads = 0

            paid = api.http.post(
                f"/orders/{order_id}/pay", json=pay_body(), headers={"Idempotency-Key": "k-lean"}
            )

        assert paid.status_code == 200
        assert "idempotent-replayed" not in paid.headers
        assert store.reads == 0

    def test_a_key_still_in_flight_is_409(self, api: Api) -> None:
        order_id = place(api).json()["order_id"]
        path = f"/orders/{order_id}/cancel"
        # Another request with this key is still running in this process.
        busy_key = Causation(
            "c",
            "c",
            scoped_key(OPEN_ACCESS, "k-busy"),
            request_hash=request_hash("POST", path, None, {"reason": "r"}),
        )
        with api.container.idempotency.claim(busy_key):
            busy = api.http.post(path, json={"reason": "r"}, headers={"Idempotency-Key": "k-busy"})

        assert_problem(busy, 409, "idempotency-key-in-flight")
        assert busy.headers["retry-after"]

    def test_a_refused_command_frees_its_key(self, api: Api) -> None:
        order_id = place(api).json()["order_id"]
        headers = {"Idempotency-Key": "k-ship"}

        early = api.http.post(f"/orders/{order_id}/ship", json=ship_body(), headers=headers)
        api.http.post(f"/orders/{order_id}/pay", json=pay_body())
        later = api.http.post(f"/orders/{order_id}/ship", json=ship_body(), headers=headers)

        assert early.status_code == 409
        assert later.status_code == 200

    def test_a_replay_still_works_after_a_restart(self, settings: Settings) -> None:
        body = place_body(new_order_id())
        headers = {"Idempotency-Key": "k-restart"}
        container = bootstrap(settings)
        with serving(embedded_app(container), container) as api:
            first = api.http.post("/orders", json=body, headers=headers)

        restarted = bootstrap(settings)
        with serving(embedded_app(restarted), restarted) as api:
            again = api.http.post("/orders", json=body, headers=headers)

        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"

    def test_a_retry_after_a_crash_between_append_and_response_appends_nothing(
        self, api: Api
    ) -> None:
        body = place_body(new_order_id())
        order_id = body["order_id"]

        # A process appended the events of these keyed commands (their record with them),
        # then died before it could answer; the clients retry with the same keys.
        def keyed(key: str, path: str, sent: BaseModel) -> Causation:
            hashed = request_hash("POST", path, None, sent.model_dump(mode="json"))
            return Causation("c", "c", scoped_key(OPEN_ACCESS, key), request_hash=hashed)

        asyncio.run(
            api.container.commands.place(
                place_command(body),
                keyed("k-crash-place", "/orders", PlaceOrderIn.model_validate(body)),
            )
        )
        pay_path = f"/orders/{order_id}/pay"
        asyncio.run(
            api.container.commands.pay(
                order_id,
                keyed("k-crash-pay", pay_path, PayIn.model_validate(pay_body())),
                **pay_body(),
            )
        )

        placed = api.http.post("/orders", json=body, headers={"Idempotency-Key": "k-crash-place"})
        paid = api.http.post(
            f"/orders/{order_id}/pay", json=pay_body(), headers={"Idempotency-Key": "k-crash-pay"}
        )

        assert placed.status_code == 201
        assert placed.json()["version"] == 0
        assert placed.headers["idempotent-replayed"] == "true"
        assert paid.status_code == 200
        assert paid.json() == {**paid.json(), "version": 1, "status": "paid"}
        assert paid.headers["idempotent-replayed"] == "true"
        assert len(api.container.event_store.read_stream(f"order-{order_id}")) == 2

    @pytest.mark.parametrize("key", ["", "x" * 300, "tab\there"])
    def test_a_malformed_key_is_400(self, api: Api, key: str) -> None:
        assert_problem(place(api, **{"Idempotency-Key": key}), 400, "invalid-header")
