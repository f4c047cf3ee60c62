"""Clients that send too much, or too slowly, over real sockets: refused, and nobody else waits."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.servers import Server


def _address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def _status_line(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    received = b""
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        while b"\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n")[0]


def _send_all(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        sock.sendall(data)


def test_a_huge_header_is_431_and_other_clients_are_served_meanwhile(server: Server) -> None:
    header = b"X-Junk: " + b"a" * (50 * 1024 * 1024) + b"\r\n"
    with socket.create_connection(_address(server)) as sock:
        sender = threading.Thread(
            target=_send_all,
            args=(sock, b"GET /orders/search HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header),
        )
        sender.start()
        started = time.monotonic()
        other = httpx.get(f"{server.url}/healthz", timeout=5)
        elapsed = time.monotonic() - started
        status = _status_line(sock)
        sender.join(timeout=30)

    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert other.status_code == 200
    assert elapsed < 2, f"another client waited {elapsed:.1f} s"


def test_too_many_headers_is_431(server: Server) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % n for n in range(60))
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        status = _status_line(sock)

    assert status == b"HTTP/1.1 431 Request Header Fields Too Large"
    body = httpx.get(f"{server.url}/healthz").json()
    assert body == {"status": "ok"}


@contextlib.contextmanager
def _slow_clients(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """Slow-loris: connections that send a header line now and then and never finish."""
    sockets = [socket.create_connection(_address(server)) for _ in range(count)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /orders/search HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(0.2)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"X-Slow: 1\r\n")  # one more header line, as the attacker would
            if sock.recv(1) == b"":
                return True
        except TimeoutError:
            continue  # still open: the server has not given up on it yet
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


@pytest.mark.slow
def test_slow_loris_connections_are_closed_and_do_not_starve_others(server: Server) -> None:
    with _slow_clients(server, 300) as slow:
        answers = [httpx.get(f"{server.url}/orders/search", timeout=5) for _ in range(20)]
        closed = [_closed_by_server(sock, within_s=5) for sock in slow]

    assert all(answer.status_code == 200 for answer in answers)
    assert all(closed), f"{closed.count(False)} slow connections were kept open"


def test_a_keep_alive_connection_whose_next_headers_stall_is_closed(server: Server) -> None:
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = _status_line(sock)
        # Longer than the header timeout (1 s here) of idle keep-alive, then a request
        # whose headers never finish.
        assert _still_open_after(sock, 1.5)
        sock.sendall(b"GET /orders/search HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        closed = _closed_by_server(sock, within_s=5)

    assert first == b"HTTP/1.1 200 OK"
    assert closed


def _still_open_after(sock: socket.socket, seconds: float) -> bool:
    """Nothing arrives and the server does not close the connection for ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) != b""
    except TimeoutError:
        return True


def test_a_slow_body_gets_a_503_at_the_deadline(server: Server) -> None:
    body = orjson.dumps({"reason": "too slow"})
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(
            b"POST /orders/x/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:3]
        )
        status = _status_line(sock)  # the rest of the body never comes

    assert status == b"HTTP/1.1 503 Service Unavailable"
