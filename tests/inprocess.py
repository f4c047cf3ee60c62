"""The real app under real uvicorn, in a thread of the test process, on a free loopback port.

Faster than a subprocess and still real HTTP; tests keep a handle on the object graph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from order_service.bootstrap import Container
from order_service.http.limits import server_options
from tests.servers import free_port


@dataclass
class Api:
    url: str
    container: Container
    http: httpx.Client


@contextmanager
def serving(app: FastAPI, container: Container) -> Iterator[Api]:
    port = free_port()
    options = server_options(container.settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)  # start-up readiness poll
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield Api(url, container, http)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
