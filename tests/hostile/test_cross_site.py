"""What a web page of another site can make a browser send: refused in open and enforced
mode alike (the review cancelled an order and erased a customer from a page in headless
Chromium, and read customers' data through a foreign Host)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Browser

from tests.access.conftest import bearer, create_key
from tests.console.conftest import browser  # noqa: F401 (the fixture)
from tests.factories import new_order_id, place_body
from tests.polling import eventually
from tests.servers import Server, free_port, orders_process


def _place(url: str, customer_id: str) -> str:
    order_id = new_order_id()
    body = place_body(
        order_id, customer={"id": customer_id, "name": "Ada Lovelace", "email": "ada@x.test"}
    )
    answer = httpx.post(f"{url}/orders", json=body)
    assert answer.status_code == 201, answer.text
    return order_id


def test_a_foreign_host_is_refused_and_loopback_names_are_served(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    rebinding = httpx.get(f"{server.url}/orders/search", headers={"Host": f"evil.test:{port}"})
    served = [
        httpx.get(f"{server.url}/orders/search", headers={"Host": host}).status_code
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost")
    ]

    assert rebinding.status_code == 421
    assert rebinding.headers["content-type"] == "application/problem+json"
    assert rebinding.json()["type"] == "/problems/host-not-served"
    assert served == [200, 200, 200]


def test_allowed_hosts_adds_the_names_a_deployment_serves(tmp_path: Path) -> None:
    with orders_process(["up"], tmp_path, {"ORDERS_ALLOWED_HOSTS": "orders.example.test"}) as up:
        named = httpx.get(f"{up.url}/orders/search", headers={"Host": "Orders.Example.Test:443"})
        other = httpx.get(f"{up.url}/orders/search", headers={"Host": "example.test"})

    assert named.status_code == 200
    assert other.status_code == 421


def test_a_json_body_without_its_content_type_is_415(server: Server) -> None:
    order_id = _place(server.url, "cust-ct")
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = {} if content_type is None else {"Content-Type": content_type}
        answer = httpx.post(
            f"{server.url}/orders/{order_id}/cancel",
            content=b'{"reason": "no content type"}',
            headers=headers,
        )
        assert answer.status_code == 415, (content_type, answer.text)
        assert answer.json()["type"] == "/problems/unsupported-media-type"
    assert httpx.get(f"{server.url}/orders/{order_id}").json()["status"] != "cancelled"


def test_state_changing_requests_from_another_site_are_refused(server: Server) -> None:
    order_id = _place(server.url, "cust-origin")
    refused = [
        httpx.post(f"{server.url}/orders/{order_id}/cancel", json={"reason": "x"}, headers=h)
        for h in (
            {"Origin": "http://evil.test"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site", "Origin": server.url},
        )
    ]
    same_origin = httpx.post(
        f"{server.url}/orders/{order_id}/cancel",
        json={"reason": "from the console"},
        headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
    )

    assert [answer.status_code for answer in refused] == [403, 403, 403, 403]
    assert {answer.json()["type"] for answer in refused} == {"/problems/cross-site-request"}
    assert same_origin.status_code == 200, same_origin.text


def test_enforced_mode_refuses_them_too_whatever_credential_comes(tmp_path: Path) -> None:
    # The guard runs before access control: a valid key does not let a foreign Host, a
    # cross-site write or a body not declared JSON through.
    key = create_key(tmp_path, "desk", "checkout", "agent")
    with orders_process(["up"], tmp_path) as up, httpx.Client(base_url=up.url) as api:
        order_id = new_order_id()
        placed = api.post("/orders", json=place_body(order_id), headers=bearer(key))
        assert placed.status_code == 201, placed.text
        cancel = f"/orders/{order_id}/cancel"
        answers = {
            "foreign host": api.get(
                "/orders/search", headers={**bearer(key), "Host": "evil.example"}
            ),
            "cross-site write": api.post(
                cancel,
                json={"reason": "x"},
                headers={**bearer(key), "Origin": "http://evil.example"},
            ),
            "text/plain body": api.post(
                cancel,
                content=b'{"reason": "x"}',
                headers={**bearer(key), "Content-Type": "text/plain"},
            ),
        }
        unauthenticated = api.post(
            cancel, json={"reason": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        allowed = api.post(cancel, json={"reason": "x"}, headers=bearer(key))

    assert {what: (a.status_code, a.json().get("type")) for what, a in answers.items()} == {
        "foreign host": (421, "/problems/host-not-served"),
        "cross-site write": (403, "/problems/cross-site-request"),
        "text/plain body": (415, "/problems/unsupported-media-type"),
    }
    assert unauthenticated.json()["type"] == "/problems/cross-site-request"  # before access
    assert allowed.status_code == 200, allowed.text


ATTACK = """<!doctype html><html><body>
<form id="erase" method="POST" action="{api}/operations/customers/{customer}/erase"
      target="sink"></form>
<iframe name="sink" id="sink"></iframe>
<script>
window.sent = false;
(async () => {{
  await fetch("{api}/orders/{order}/cancel", {{
    method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
    body: JSON.stringify({{reason: "cancelled from another site"}}),
  }}).catch(() => null);
  await fetch("{api}/orders/{order}/notes", {{
    method: "POST", mode: "no-cors", body: JSON.stringify({{text: "from another site"}}),
  }}).catch(() => null);
  document.getElementById("sink").onload = () => {{ window.sent = true; }};
  document.getElementById("erase").submit();
}})();
</script></body></html>"""


@contextmanager
def _page_of_another_site(html: str) -> Iterator[str]:
    """A real HTTP server on another origin (localhost on another port) serving the page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    port = free_port()
    site = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}/"
    finally:
        site.shutdown()
        site.server_close()


def test_a_page_of_another_origin_cannot_drive_open_mode(
    server: Server,
    browser: Browser,  # noqa: F811 (the fixture)
) -> None:
    order_id = _place(server.url, "cust-victim")
    page_html = ATTACK.format(api=server.url, customer="cust-victim", order=order_id)
    context = browser.new_context()
    try:
        page = context.new_page()
        with _page_of_another_site(page_html) as attacker:
            page.goto(attacker)
            assert eventually(lambda: page.evaluate("window.sent") is True, within_s=20)
    finally:
        context.close()

    order = httpx.get(f"{server.url}/orders/{order_id}").json()
    history = httpx.get(f"{server.url}/orders/{order_id}/history").json()
    assert order["status"] != "cancelled"
    assert order["customer"]["name"] == "Ada Lovelace"
    assert "from another site" not in str(history)
