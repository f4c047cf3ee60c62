"""The checkout page's complete clients (Python httpx, JavaScript fetch) run unchanged against
a live `orders up` under uvicorn, and do what the page says they do."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines import ROOT
from tests.servers import Server, orders_process

PAGE = ROOT / "docs" / "checkout.md"


def example(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.DOTALL)
    assert len(blocks) == 1, f"one complete {language} example on the page"
    return str(blocks[0])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with orders_process(["up"], tmp_path_factory.mktemp("checkout-examples")) as running:
        yield running


def run(command: list[str], server: Server) -> list[str]:
    done = subprocess.run(
        command,
        env={**os.environ, "ORDERS_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def assert_placed_paid_refused(lines: list[str]) -> None:
    placed, paid, refused = (line.split() for line in lines)
    assert placed[0] == "placed"
    assert placed[3] == f"/orders/{placed[1]}"
    assert paid == ["paid", placed[1], "version", "1"]
    assert refused == ["refused", "412", "/problems/version-mismatch", "1"]


def test_the_python_client_places_pays_and_reads_a_refusal(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "checkout.py"
    script.write_text(example("python"))

    assert_placed_paid_refused(run([sys.executable, str(script)], server))


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_javascript_client_places_pays_and_reads_a_refusal(
    server: Server, tmp_path: Path
) -> None:
    script = tmp_path / "checkout.mjs"
    script.write_text(example("js"))

    assert_placed_paid_refused(run(["node", str(script)], server))
