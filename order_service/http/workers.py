"""``--workers N``: N server processes on one port, each accepting on a socket of its own.

uvicorn's own ``--workers`` shares one listening socket between its processes. With
keep-alive clients (checkout's connection pools, a load balancer's), whichever worker wakes
first accepts every connection that is waiting and the others idle: measured, one of two
workers served all 16 checkout clients. Here each worker binds its own socket with
``SO_REUSEPORT``, and the kernel spreads new connections across the workers (Linux lets
only processes of the same user share the port). The parent only supervises: it starts
the workers, starts another when one dies, and stops them all on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from typing import Any

import uvicorn

log = logging.getLogger(__name__)

STOP_WAIT_S = 30.0


def serve(options: dict[str, Any], workers: int) -> int:
    """Run ``workers`` processes of ``uvicorn.Config(**options)``; the exit status."""
    if refusal := _taken(options["host"], options["port"]):
        log.error("cannot listen on %s port %s: %s", options["host"], options["port"], refusal)
        return 1
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())

    def start() -> tuple[BaseProcess, EventType]:
        ready = context.Event()
        process = context.Process(target=_worker, args=(options, ready), name="orders-worker")
        process.start()
        return process, ready

    running = [start() for _ in range(workers)]
    announced = False
    status = 0
    while not stopping.is_set():
        wait([process.sentinel for process, _ in running], timeout=1.0 if announced else 0.1)
        if not announced and all(ready.is_set() for _, ready in running):
            log.info("%d workers serving on port %s", workers, options["port"])
            announced = True
        for index, (process, ready) in enumerate(running):
            if process.is_alive() or stopping.is_set():
                continue
            if not ready.is_set():  # it would fail again: a port in use, a bad setting
                log.error("worker %s exited at start (%s)", process.pid, process.exitcode)
                status = 1
                stopping.set()
                break
            log.warning("worker %s exited (%s); starting another", process.pid, process.exitcode)
            running[index] = start()
    for process, _ in running:
        if process.is_alive():
            process.terminate()  # each worker shuts down gracefully on SIGTERM
    for process, _ in running:
        process.join(STOP_WAIT_S)
    return status


def _taken(host: str, port: int) -> str | None:
    """Why the port cannot be ours, if it cannot. Workers share it with ``SO_REUSEPORT``,
    which would also let them join another server of the same user already on it: a plain
    bind first refuses a port anyone listens on."""
    with socket.socket(_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return str(error)
    return None


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _worker(options: dict[str, Any], ready: EventType) -> None:
    config = uvicorn.Config(**options)
    host = config.host
    listener = socket.socket(_family(host))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, config.port))
    except OSError as error:
        log.error("worker cannot listen on %s port %s: %s", host, config.port, error)
        sys.exit(3)
    _Worker(config, ready).run(sockets=[listener])


class _Worker(uvicorn.Server):
    """A uvicorn server that tells the supervisor once it accepts connections, and shuts
    down gracefully when the supervisor is gone (killed outright, it cannot stop them):
    a worker left behind would keep the port and the event store's write lock."""

    def __init__(self, config: uvicorn.Config, ready: EventType) -> None:
        super().__init__(config)
        self.ready = ready
        supervisor = multiprocessing.parent_process()
        if supervisor is not None:
            threading.Thread(
                target=self._exit_with, args=(supervisor.sentinel,), daemon=True
            ).start()

    def _exit_with(self, supervisor: int) -> None:
        wait([supervisor])
        log.warning("the supervisor is gone: worker %s shuts down", os.getpid())
        self.should_exit = True

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.ready.set()
