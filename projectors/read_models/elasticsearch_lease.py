"""Projection leases in Elasticsearch (``projectors.lease``): one document per projection in
``<prefix>-projection-leases``, changed only with ``if_seq_no`` and ``if_primary_term``, so a
write based on a record someone else has changed since is refused (409)."""

from __future__ import annotations

import time

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError

from projectors.lease import LeaseRecord, Version

SHARD_WAIT_S = 30.0


class ElasticsearchLeases:
    def __init__(self, client: Elasticsearch, *, prefix: str, replicas: int = 0) -> None:
        self.client = client
        self.index = f"{prefix}-projection-leases"
        self.replicas = replicas

    def setup(self) -> None:
        if self.client.indices.exists(index=self.index):
            return
        self.client.options(ignore_status=400).indices.create(  # 400: created meanwhile
            index=self.index,
            settings={"number_of_shards": 1, "number_of_replicas": self.replicas},
            mappings={"dynamic": False, "properties": {}},
        )
        self.wait_for_shard()

    def wait_for_shard(self, timeout_s: float = SHARD_WAIT_S) -> None:
        """Until the index's primary shard has started: an index another process has just
        created exists before its shard can answer, and reads of it meanwhile get 503."""
        self.client.cluster.health(
            index=self.index, wait_for_status="yellow", timeout=f"{max(timeout_s, 1):.0f}s"
        )

    def read(self, name: str) -> tuple[LeaseRecord, Version] | None:
        deadline = time.monotonic() + SHARD_WAIT_S
        while True:
            try:
                found = self.client.get(index=self.index, id=name)
                break
            except NotFoundError:  # no lease yet, or no lease index
                return None
            except ApiError as error:
                left = deadline - time.monotonic()
                if error.meta.status != 503 or left <= 0:
                    raise
                self.wait_for_shard(left)  # created a moment ago by another projector
        return LeaseRecord(**found["_source"]), (found["_seq_no"], found["_primary_term"])

    def write(self, name: str, record: LeaseRecord, expected: Version | None) -> Version | None:
        try:
            if expected is None:
                written = self.client.create(
                    index=self.index, id=name, document=record.as_dict(), refresh=False
                )
            else:
                seq_no, primary_term = expected
                written = self.client.index(
                    index=self.index,
                    id=name,
                    document=record.as_dict(),
                    if_seq_no=seq_no,
                    if_primary_term=primary_term,
                )
        except ConflictError:
            return None
        return written["_seq_no"], written["_primary_term"]
