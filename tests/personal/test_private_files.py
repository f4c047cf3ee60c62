"""The data directory and the SQLite files (the read model holds personal data in clear, for
search) are readable by their owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.factories import new_order_id, place_body
from tests.servers import orders_process


def test_the_data_directory_and_its_files_are_the_owners_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = os.umask(0o022)  # what a shell usually has; the process must not inherit it
    try:
        with orders_process(["up", "--data-dir", str(data)], tmp_path) as server:
            placed = httpx.post(f"{server.url}/orders", json=place_body(new_order_id()))
            assert placed.status_code == 201
            files = [path for path in data.rglob("*") if path.is_file()]
            modes = {
                str(path.relative_to(data)): stat.S_IMODE(path.stat().st_mode) for path in files
            }
            directory = stat.S_IMODE(data.stat().st_mode)
    finally:
        os.umask(old)

    assert directory == 0o700
    assert any(name.startswith("read.db") for name in modes)
    assert any(name.startswith("events.db") for name in modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}
