"""Real processes for end-to-end tests: `orders ...` under uvicorn on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listeners(port: int) -> int:
    """Sockets listening on a local TCP port (Linux: one per worker, with SO_REUSEPORT)."""
    listening = "0A"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                count += state == listening and int(local.rsplit(":", 1)[1], 16) == port
    return count


def orders_cli(
    workdir: Path, *args: str, check: bool = False, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `orders ARGS` to completion in ``workdir``, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "order_service.cli", *args],
        cwd=workdir,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Stop as Ctrl-C would (or kill with SIGKILL), and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=30)


@contextmanager
def orders_process(
    args: list[str],
    workdir: Path,
    env: Mapping[str, str] | None = None,
    *,
    log_dir: Path | None = None,
) -> Iterator[Server]:
    """Run `orders ARGS --port P` and wait until /healthz answers (the process is ready)."""
    port = free_port()
    log = (log_dir or workdir) / f"orders-{port}.log"
    environment = {**os.environ, **(env or {}), "ORDERS_PORT": str(port)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "order_service.cli", *args],
            cwd=workdir,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"orders exited during start-up:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)  # not listening yet: a start-up poll, not synchronisation
    raise RuntimeError(
        f"orders did not answer /healthz in {STARTUP_TIMEOUT_S}s:\n{server.output()}"
    )
