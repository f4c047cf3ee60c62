"""How a projection's documents sit in Elasticsearch, as code: each projection's module
declares its fields' mappings (an ``ElasticsearchMapping``); this module adds what every
projection store keeps beside them and builds the index's whole mapping.

Kept apart from the adapter so that a projection's module declares its mappings without
importing the Elasticsearch client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from projectors.read_models.sqlite_documents import Sums

KEYWORD: dict[str, Any] = {"type": "keyword"}
LONG: dict[str, Any] = {"type": "long"}
DATE: dict[str, Any] = {"type": "date_nanos"}
STORED_ONLY: dict[str, Any] = {"type": "object", "enabled": False}
"""Shown, never searched: kept in ``_source`` only."""

DOCUMENT_KEY = "document_key"
"""The document's key, indexed to sort by (sorting on ``_id`` is disabled in Elasticsearch 8)."""
CONTRIBUTIONS = "contributions"
"""A document's contributions to the sums rows, one nested object per row it adds to."""
RESERVED = (DOCUMENT_KEY, CONTRIBUTIONS, "version", "position", "projection_error")


@dataclass(frozen=True)
class ElasticsearchMapping:
    """A projection's documents in Elasticsearch: its fields' mappings, the keyword fields
    ``find`` may match, and optional sums (the same declaration as on SQLite)."""

    properties: Mapping[str, Any]
    columns: tuple[str, ...] = ()
    sums: Sums | None = None

    def __post_init__(self) -> None:
        taken = sorted(set(self.properties) & set(RESERVED))
        if taken:
            raise ValueError(f"reserved field names: {taken}")
        for column in self.columns:
            if self.properties.get(column, {}).get("type") != "keyword":
                raise ValueError(f"{column!r} must be mapped as a keyword to be found by")


def index_mappings(mapping: ElasticsearchMapping, *, name: str, version: int) -> dict[str, Any]:
    """The index's mapping: the projection's fields, what every store adds, its schema version
    (``_meta``), and the nested contributions when it keeps sums."""
    properties: dict[str, Any] = {
        **mapping.properties,
        DOCUMENT_KEY: KEYWORD,
        "version": LONG,
        "position": LONG,
        "projection_error": {"type": "text", "fields": {"keyword": KEYWORD}},
    }
    if mapping.sums:
        properties[CONTRIBUTIONS] = {
            "type": "nested",
            "properties": {
                **{key: KEYWORD for key in mapping.sums.keys},
                **{name: LONG for name in mapping.sums.fields},
            },
        }
    return {
        "dynamic": False,
        "_meta": {"projection": name, "schema_version": version},
        # Indexed, never returned: a document reads back exactly as it was written.
        "_source": {"excludes": [DOCUMENT_KEY, CONTRIBUTIONS]},
        "properties": properties,
    }
