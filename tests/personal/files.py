"""Every byte a backend keeps on disk, for the erasure tests to search."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import httpx

from order_service.bootstrap import Container
from order_service.eventstore.sqlite import SQLiteEventStore
from projectors.read_models.elasticsearch_read_model import ElasticsearchReadModel
from projectors.read_models.sqlite_read_model import SQLiteReadModel


def file_bytes(path: Path) -> bytes:
    """A file's bytes; gzip members are searched decompressed (as a reader would see them)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return raw + gzip.decompress(raw)
        except (OSError, EOFError, zlib.error):
            return raw
    return raw


def tree_bytes(root: Path) -> dict[Path, bytes]:
    return {path: file_bytes(path) for path in root.rglob("*") if path.is_file()}


def event_store_bytes(container: Container) -> dict[str, bytes]:
    """SQLite: the database file and its WAL. EventStoreDB: every record ``$all`` returns
    (the test server keeps no files; a real server's files are not reachable from here)."""
    store = container.event_store
    if isinstance(store, SQLiteEventStore):
        return {str(p): file_bytes(p) for p in store.path.parent.glob(f"{store.path.name}*")}
    everything = store.read_all(limit=10_000_000, stream_prefix="")
    return {"$all": b"\n".join(event.data + event.metadata for event in everything)}


def read_model_bytes(container: Container) -> dict[str, bytes]:
    """SQLite: the file and its WAL. Elasticsearch: every file of the model's indices on the
    node's disk (segments, translog), found through the node's own answers."""
    read_model = container.read_model
    if isinstance(read_model, SQLiteReadModel):
        path = read_model.path
        return {str(p): file_bytes(p) for p in path.parent.glob(f"{path.name}*")}
    assert isinstance(read_model, ElasticsearchReadModel)
    url = container.settings.read_model_url
    prefix = container.settings.es_index_prefix
    settings = httpx.get(f"{url}/{prefix}-*/_settings").json()
    nodes = httpx.get(f"{url}/_nodes/stats/fs").json()["nodes"]
    data_paths = [Path(p["path"]) for n in nodes.values() for p in n["fs"]["data"]]
    found: dict[str, bytes] = {}
    for name, body in settings.items():
        uuid = body["settings"]["index"]["uuid"]
        for data in data_paths:
            for path, raw in tree_bytes(data / "indices" / uuid).items():
                found[f"{name}:{path.name}"] = raw
    assert found, "no index files found on the node's disk"
    return found


def holding(copies: dict[str, bytes], needle: str) -> list[str]:
    return [name for name, raw in copies.items() if needle.encode() in raw]
