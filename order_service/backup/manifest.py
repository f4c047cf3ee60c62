"""What a backup holds, written last into its directory as ``manifest.json``."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

FORMAT = "orders-backup"
VERSION = 1
MANIFEST = "manifest.json"
EVENTS = "events.db"
READ_MODEL = "read.db"
ARCHIVE = "archive"
KEY = "key-encryption-key"
PREVIOUS_KEYS = "previous-key-encryption-keys"


@dataclass
class Manifest:
    created_at: str
    head: int | None
    """The last event's global position in the copied event store (None: empty)."""
    events: int
    read_model: bool
    """Whether the SQLite read model is in the backup (else it is rebuilt from the events)."""
    archive: bool
    key_included: bool
    keys_needed: list[str]
    """Ids of the key-encryption keys that wrap the customers' keys in this backup."""
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Relative path → {"bytes", "sha256"} for every file but the manifest."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"format": FORMAT, "version": VERSION, **asdict(self)},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """The backup's manifest; ValueError says why there is none that can be read."""
        path = directory / MANIFEST
        if not path.is_file():
            raise ValueError(f"{path} is missing: not a backup, or one that did not finish")
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON: {error}") from error
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not an orders backup manifest")
        if data.get("version") != VERSION:
            raise ValueError(f"{path} has version {data.get('version')}; this reads {VERSION}")
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        try:
            return cls(**fields)
        except TypeError as error:
            raise ValueError(f"{path} lacks a field: {error}") from error

    def write(self, directory: Path) -> None:
        path = directory / MANIFEST
        with path.open("wb") as sink:
            sink.write(self.to_json())
            sink.flush()
            os.fsync(sink.fileno())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(root: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``root`` but the manifest, by relative path."""
    return {
        path.relative_to(root).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def fsync_tree(root: Path) -> None:
    """Files and directories on disk before the backup is said to exist."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for directory in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
