"""API keys through the real CLI and real processes: hashed at rest, listed without secrets,
revoked everywhere within seconds, and every event signed by the key that caused it."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from order_service.eventstore.sqlite import SQLiteEventStore
from tests.access.conftest import bearer, create_key
from tests.factories import new_order_id, pay_body, place_body
from tests.http.test_commands_api import assert_problem
from tests.servers import orders_cli, orders_process


def test_keys_are_printed_once_stored_hashed_and_listed_without_secrets(tmp_path: Path) -> None:
    key = create_key(tmp_path, "web-shop", "checkout", "agent")
    plain = orders_cli(tmp_path, "keys", "create", "--role", "monitor", "--name", "prometheus")
    # Not the first key: no question asked, and none needed.
    listed = json.loads(orders_cli(tmp_path, "keys", "list", "--json").stdout)

    assert key["roles"] == ["agent", "checkout"]
    assert key["key"].startswith(f"ok_{key['id']}_")
    assert plain.stdout.strip().startswith("ok_")  # the key alone on stdout, for scripts
    assert [entry["name"] for entry in listed] == ["web-shop", "prometheus"]
    assert all("key" not in entry and "sha256" not in entry for entry in listed)
    secret = key["key"].removeprefix(f"ok_{key['id']}_")  # the secret may itself hold "_"
    for path in (tmp_path / "var").glob("events.db*"):
        assert secret.encode() not in path.read_bytes()


def test_a_bad_role_is_refused_with_exit_2(tmp_path: Path) -> None:
    refused = orders_cli(tmp_path, "keys", "create", "--role", "admin", "--name", "x")

    assert refused.returncode == 2
    assert "invalid choice: 'admin'" in refused.stderr


def test_revoking_an_unknown_key_is_exit_1(tmp_path: Path) -> None:
    create_key(tmp_path, "web-shop", "checkout")

    assert orders_cli(tmp_path, "keys", "revoke", "0123456789abcdef").returncode == 1


def test_a_revoked_key_fails_on_every_process_within_five_seconds(tmp_path: Path) -> None:
    key = create_key(tmp_path, "agent-desk", "agent", "checkout")
    with (
        orders_process(["serve", "commands"], tmp_path) as commands,
        orders_process(["serve", "search"], tmp_path) as search,
    ):
        place = httpx.post(
            f"{commands.url}/orders", json=place_body(new_order_id()), headers=bearer(key)
        )
        found = httpx.get(f"{search.url}/orders/search", headers=bearer(key))
        revoked = orders_cli(tmp_path, "keys", "revoke", key["id"])
        started = time.monotonic()
        refused_by = {}
        while len(refused_by) < 2 and time.monotonic() - started < 10:
            for name, url in (
                ("commands", f"{commands.url}/orders/search"),
                ("search", f"{search.url}/orders/search"),
            ):
                if (
                    name not in refused_by
                    and httpx.get(url, headers=bearer(key)).status_code == 401
                ):
                    refused_by[name] = time.monotonic() - started
            time.sleep(0.05)  # polling two processes for an effect they reach by themselves

    assert place.status_code == 201
    assert found.status_code == 200
    assert revoked.returncode == 0
    assert set(refused_by) == {"commands", "search"}
    assert max(refused_by.values()) < 5, refused_by


def test_events_carry_the_actor_and_notes_their_author(tmp_path: Path) -> None:
    checkout = create_key(tmp_path, "web-shop", "checkout")
    agent = create_key(tmp_path, "Grace at the desk", "agent")
    order_id = new_order_id()
    with orders_process(["up"], tmp_path) as server:
        httpx.post(f"{server.url}/orders", json=place_body(order_id), headers=bearer(checkout))
        httpx.post(
            f"{server.url}/orders/{order_id}/notes", json={"text": "called"}, headers=bearer(agent)
        )
        history = httpx.get(f"{server.url}/orders/{order_id}/history", headers=bearer(agent)).json()
        server.stop()
    store = SQLiteEventStore(tmp_path / "var" / "events.db")
    placed, noted = store.read_stream(f"order-{order_id}")
    store.close()

    assert orjson.loads(placed.metadata)["actor"] == {
        "kind": "api_key",
        "id": checkout["id"],
        "name": "web-shop",
    }
    assert orjson.loads(noted.metadata)["actor"]["id"] == agent["id"]
    assert orjson.loads(noted.data)["author"] == "Grace at the desk"
    assert [event["metadata"]["actor"]["name"] for event in history["events"]] == [
        "web-shop",
        "Grace at the desk",
    ]


def test_idempotency_keys_are_scoped_to_the_caller(tmp_path: Path) -> None:
    first = create_key(tmp_path, "shop-a", "checkout")
    second = create_key(tmp_path, "shop-b", "checkout")
    body = {k: v for k, v in place_body(new_order_id()).items() if k != "order_id"}
    with orders_process(["up"], tmp_path) as server:
        a = httpx.post(
            f"{server.url}/orders", json=body, headers={**bearer(first), "Idempotency-Key": "same"}
        )
        b = httpx.post(
            f"{server.url}/orders", json=body, headers={**bearer(second), "Idempotency-Key": "same"}
        )
        a_again = httpx.post(
            f"{server.url}/orders", json=body, headers={**bearer(first), "Idempotency-Key": "same"}
        )

    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert a.json()["order_id"] != b.json()["order_id"]
    assert a_again.headers["idempotent-replayed"] == "true"
    assert a_again.json() == a.json()


def test_a_key_bound_to_an_order_id_prefix_cannot_squat_another_shops_ids(
    tmp_path: Path,
) -> None:
    shop_a = create_key(tmp_path, "shop-a", "checkout", order_id_prefix="shop-a-")
    shop_b = create_key(tmp_path, "shop-b", "checkout", order_id_prefix="shop-b-")
    legacy = create_key(tmp_path, "single-shop", "checkout")
    a_key = {**bearer(shop_a), "Idempotency-Key": "cart-1"}
    with orders_process(["up"], tmp_path) as server:
        squat = httpx.post(
            f"{server.url}/orders", json=place_body("shop-a-1001"), headers=bearer(shop_b)
        )
        mine = httpx.post(f"{server.url}/orders", json=place_body("shop-a-1001"), headers=a_key)
        foreign_pay = httpx.post(
            f"{server.url}/orders/shop-a-1001/pay", json=pay_body(), headers=bearer(shop_b)
        )
        body = {k: v for k, v in place_body().items() if k != "order_id"}
        generated = httpx.post(
            f"{server.url}/orders", json=body, headers=a_key | {"Idempotency-Key": "cart-2"}
        )
        unbound = httpx.post(
            f"{server.url}/orders", json=place_body(new_order_id()), headers=bearer(legacy)
        )

    assert_problem(squat, 403, "order-id-not-allowed")
    assert squat.json()["errors"] == [{"field": "order_id", "message": "must start with 'shop-b-'"}]
    assert mine.status_code == 201, mine.text
    assert_problem(foreign_pay, 403, "order-id-not-allowed")
    assert generated.status_code == 201, generated.text
    assert generated.json()["order_id"].startswith("shop-a-")
    assert unbound.status_code == 201, unbound.text


def test_a_key_created_while_running_turns_access_on_without_a_restart(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path) as server:
        open_search = httpx.get(f"{server.url}/orders/search")
        key = create_key(tmp_path, "first", "agent")
        started = time.monotonic()
        while httpx.get(f"{server.url}/orders/search").status_code == 200:
            assert time.monotonic() - started < 5, "access stayed open"
            time.sleep(0.05)  # the process notices the new key by itself
        anonymous = httpx.get(f"{server.url}/orders/search")
        keyed = httpx.get(f"{server.url}/orders/search", headers=bearer(key))

    assert open_search.status_code == 200
    assert_problem(anonymous, 401, "unauthenticated")
    assert keyed.status_code == 200


def _on_a_terminal(workdir: Path, answer: str, *args: str) -> tuple[int, str]:
    """Run `orders ARGS` with a terminal on its standard input, answer its question."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "order_service.cli", *args],
        cwd=workdir,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(terminal)
    os.write(controller, f"{answer}\n".encode())
    _, errors = process.communicate(timeout=60)
    os.close(controller)
    return process.returncode, errors


def test_the_first_key_asks_before_access_becomes_enforced(tmp_path: Path) -> None:
    unasked = orders_cli(tmp_path, "keys", "create", "--role", "checkout", "--name", "web-shop")
    assert unasked.returncode == 1
    assert "access control is enforced" in unasked.stderr
    assert "--yes" in unasked.stderr
    assert json.loads(orders_cli(tmp_path, "keys", "list", "--json").stdout) == []

    declined, _ = _on_a_terminal(tmp_path, "n", "keys", "create", "--role", "agent", "--name", "a")
    assert declined == 1
    assert json.loads(orders_cli(tmp_path, "keys", "list", "--json").stdout) == []

    accepted, said = _on_a_terminal(
        tmp_path, "y", "keys", "create", "--role", "agent", "--name", "a"
    )
    assert accepted == 0, said
    assert "access control is now enforced" in said
    assert [
        k["name"] for k in json.loads(orders_cli(tmp_path, "keys", "list", "--json").stdout)
    ] == ["a"]
