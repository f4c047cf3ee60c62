"""Read-model snapshots: a generation's documents and checkpoint in one file.

A gzip file of JSON lines: a header (format, projection, checkpoint, time), one line per
document, and a trailer with the count, so a file cut short is refused rather than loaded.
The checkpoint is read before the documents, and a document is only ever newer than the
checkpoint says, so replaying the log after the checkpoint brings every document current.
A rebuild started from a snapshot loads it and replays only the events after it.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from order_service.personal.codec import PersonalData
from order_service.progress import Report, Tick, silent
from projectors.order_search import NAME, Document
from projectors.port import OrderSearchIndex

FORMAT = "orders-read-model/1"
REPORT_EVERY = 5000


class SnapshotFileError(ValueError):
    """The file is not a complete read-model snapshot of this projection."""


@dataclass(frozen=True)
class SnapshotHeader:
    checkpoint: int | None
    exported_at: str
    generation: str


def export(
    index: OrderSearchIndex,
    path: Path,
    personal: PersonalData,
    *,
    generation: str,
    report: Report = silent,
) -> tuple[SnapshotHeader, int]:
    """Write the snapshot under a temporary name, fsync it, then move it into place.
    Personal values are written sealed with their customers' keys."""
    header = SnapshotHeader(index.checkpoint().position, datetime.now(UTC).isoformat(), generation)
    expected = index.count()
    temporary = path.with_name(f".{path.name}.tmp")
    count = 0
    with temporary.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as out:
        out.write(_line({"format": FORMAT, "projection": NAME, **header.__dict__}))
        for document in index.scan():
            out.write(_line(personal.seal_document(document)))
            count += 1
            if count % REPORT_EVERY == 0:
                report(Tick("exporting documents", count, max(expected, count), count))
        out.write(_line({"end": True, "documents": count}))
        out.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(temporary, path)
    return header, count


def _line(item: dict[str, Any]) -> bytes:
    return orjson.dumps(item) + b"\n"


def read_header(path: Path) -> SnapshotHeader:
    with gzip.open(path, "rb") as file:
        first = orjson.loads(file.readline() or b"{}")
    if first.get("format") != FORMAT or first.get("projection") != NAME:
        raise SnapshotFileError(f"{path}: not an {NAME} read-model snapshot")
    return SnapshotHeader(first["checkpoint"], first["exported_at"], first["generation"])


def documents(path: Path, personal: PersonalData) -> Iterator[Document]:
    """The snapshot's documents, personal values opened (or erased); raises at the end if the
    file was cut short."""
    read_header(path)
    count = 0
    with gzip.open(path, "rb") as file:
        file.readline()
        for line in file:
            item = orjson.loads(line)
            if item.get("end") is True:
                if item.get("documents") != count:
                    raise SnapshotFileError(f"{path}: {count} documents, trailer says otherwise")
                return
            count += 1
            yield personal.open_document(item)
    raise SnapshotFileError(f"{path}: cut short after {count} documents (no trailer)")
