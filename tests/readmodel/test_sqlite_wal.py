"""While agents never stop searching, a SQLite read model's write-ahead log still starts over:
SQLite's own checkpoints only restart it at a moment no reader reads from it, which busy
agents never leave, so the projector makes that moment once the log passes its limit."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from projectors import customer_orders
from projectors.port import Changes, SearchQuery
from projectors.read_models.sqlite_documents import SQLiteDocuments
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from tests.readmodel.contract import sample_documents

LIMIT = 256 * 1024
BATCHES = 200
ReadModel = tuple[Any, Any, Callable[[int], Changes], Callable[[], None]]
"""A store writing to the file, one its agents read, a batch of changes for each turn, and one
agent's search."""


def truncations() -> float:
    return REGISTRY.get_sample_value("orders_read_model_wal_truncations_total") or 0.0


def order_search(path: Path, limit: int) -> ReadModel:
    index = SQLiteOrderIndex(path, wal_size_limit=limit)
    index.setup()
    reader = SQLiteOrderIndex(path)
    samples = sample_documents("u")

    def batch(n: int) -> Changes:
        documents = {
            f"{key}-{n % 40}": {**document, "order_id": f"{key}-{n % 40}", "version": n}
            for key, document in samples.items()
        }
        return Changes(documents, checkpoint=1 + n, searchable=True)

    return index, reader, batch, lambda: reader.search(SearchQuery(limit=10, text="hopper"))


def customers_orders(path: Path, limit: int) -> ReadModel:
    projection, mapping = customer_orders.PROJECTION, customer_orders.SQLITE
    store = SQLiteDocuments(path, projection, mapping, wal_size_limit=limit)
    store.setup()
    reader = SQLiteDocuments(path, projection, mapping)

    def batch(n: int) -> Changes:
        documents = {
            f"o{n}-{k}": {
                "order_id": f"o{n}-{k}",
                "customer_id": f"c{k % 7}",
                "currency": "EUR",
                "version": 0,
                "position": 1 + n,
                "notes": "x" * 400,
            }
            for k in range(50)
        }
        return Changes(documents, checkpoint=1 + n, searchable=True)

    return store, reader, batch, lambda: reader.find("customer_id", "c3")


@pytest.mark.parametrize("read_model", [order_search, customers_orders])
def test_the_wal_starts_over_while_agents_never_stop_reading(
    tmp_path: Path,
    read_model: Callable[[Path, int], ReadModel],
) -> None:
    store, reader, batch, search = read_model(tmp_path / "read.db", LIMIT)
    wal = tmp_path / "read.db-wal"
    truncated_before = truncations()
    stop = threading.Event()

    def search_continuously() -> None:
        while not stop.is_set():
            search()

    agents = [threading.Thread(target=search_continuously) for _ in range(2)]
    for agent in agents:
        agent.start()
    sizes = []
    try:
        for n in range(BATCHES):
            store.write(batch(n))
            sizes.append(wal.stat().st_size)
    finally:
        stop.set()
        for agent in agents:
            agent.join()
        reader.close()
        store.close()
    # The file only ever grows unless a checkpoint truncates it: each fall is a new start.
    restarts = sum(1 for before, after in itertools.pairwise(sizes) if after < before)
    assert restarts >= 3, f"the WAL never started over: {sizes[-1]:,} bytes after {BATCHES}"
    assert truncations() - truncated_before >= restarts
