"""Erasure on real engines: the event store (SQLite or EventStoreDB's test server) and the read
model (SQLite or Elasticsearch), wired by the production composition root."""

from __future__ import annotations

from tests.operations.conftest import container
from tests.projector.conftest import store

__all__ = ["container", "store"]
