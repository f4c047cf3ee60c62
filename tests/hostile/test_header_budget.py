"""What arrives around a body is bounded like the headers: trailer fields of a chunked body,
and a header block that comes in one read (the review's reproductions, over real sockets)."""

from __future__ import annotations

import contextlib
import socket
import threading

import httpx

from tests.hostile.test_slow_and_large_clients import _address, _send_all, _status_line
from tests.servers import Server

TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large"


def _chunked_sign_in(trailers: bytes) -> bytes:
    body = b'{"api_key": "x"}'
    return (
        b"POST /auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(body)
        + body
        + b"\r\n0\r\n"
        + trailers
        + b"\r\n"
    )


def test_trailer_fields_of_a_chunked_sign_in_count_against_the_header_limit(
    server: Server,
) -> None:
    # 8 MB of trailer fields (the review sent 150 MB on each of four connections): the
    # server must stop at its header limit (16 KB here), not keep them all.
    trailers = b"".join(b"X-T%d: %s\r\n" % (n, b"a" * 1000) for n in range(8000))
    with socket.create_connection(_address(server)) as sock:
        sender = threading.Thread(target=_send_all, args=(sock, _chunked_sign_in(trailers)))
        sender.start()
        status = _status_line(sock)
        sender.join(timeout=30)

    assert status == TOO_LARGE
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_one_huge_trailer_field_is_refused_too(server: Server) -> None:
    trailers = b"X-Big: " + b"a" * (4 * 1024 * 1024) + b"\r\n"
    with socket.create_connection(_address(server)) as sock:
        sender = threading.Thread(target=_send_all, args=(sock, _chunked_sign_in(trailers)))
        sender.start()
        status = _status_line(sock)
        sender.join(timeout=30)

    assert status == TOO_LARGE


def test_small_trailers_and_many_chunks_are_still_served(server: Server) -> None:
    body = b'{"api_key": "not-a-key"}'
    chunks = b"".join(b"1\r\n%c\r\n" % byte for byte in body)
    request = (
        b"POST /auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunks
        + b"0\r\nX-Checksum: abc\r\n\r\n"
    )
    with socket.create_connection(_address(server)) as sock:
        sock.sendall(request)
        status = _status_line(sock)

    assert status == b"HTTP/1.1 401 Unauthorized"


def test_a_header_block_over_the_limit_is_431_even_in_one_read(server: Server) -> None:
    # 40 KB of headers (limit 16 KB here) in a single segment: the parser sees them whole.
    headers = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 1000) for n in range(40))
    with socket.create_connection(_address(server)) as sock:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n")
        status = _status_line(sock)

    assert status == TOO_LARGE


def test_eighty_thousand_unknown_fields_to_sign_in_are_refused_before_parsing(
    server: Server,
) -> None:
    # The review's input: 1 MB of unknown fields, no credential needed.
    body = b"{" + b",".join(b'"f%d":1' % n for n in range(80_000)) + b"}"
    answer = httpx.post(
        f"{server.url}/auth/session",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )

    assert answer.status_code == 413
    assert answer.json()["type"] == "/problems/body-too-many-fields"
    assert len(answer.content) < 5_000


def test_a_422_lists_a_bounded_number_of_fields(server: Server) -> None:
    fields = {f"unknown{n}": 1 for n in range(1_000)}
    answer = httpx.post(f"{server.url}/auth/session", json={"api_key": "k", **fields})

    assert answer.status_code == 422
    problem = answer.json()
    assert len(problem["errors"]) == 20
    assert problem["detail"].startswith("1000 invalid field(s)")
    assert len(answer.content) < 5_000
