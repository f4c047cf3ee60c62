"""On EventStoreDB, ``$all`` is not ours alone: it starts with the server's own records and
gets more of them all the time ($statsCollected every 30 s on a real node, every 0.25 s on the
suite's server). Projecting, rebuilding, archiving and readiness must not notice."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kurrentdbclient import KurrentDBClient

from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import bootstrap
from order_service.eventstore.esdb import EventStoreDBEventStore
from order_service.settings import Settings
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions
from tests.engines import STATS_PERIOD_S
from tests.esdb_server.log import Log
from tests.esdb_server.server import start
from tests.operations.conftest import digests, project_until_caught_up, seed

CUTOFF = datetime.now(UTC) - timedelta(days=365)


@pytest.fixture
def own_server(eventstoredb_uri: str) -> Iterator[str]:
    """A server of this test's own (the suite's is shared with tests that leave poison
    events behind), or the real one at EVENTSTOREDB_URI."""
    if os.environ.get("EVENTSTOREDB_URI"):
        yield eventstoredb_uri
        return
    server = start(log=Log(stats_period_s=STATS_PERIOD_S))
    yield server.uri
    server.stop()


def test_projection_rebuild_archive_and_readiness_on_a_realistic_all(
    own_server: str, tmp_path: Path
) -> None:
    eventstoredb_uri = own_server
    raw = KurrentDBClient(uri=eventstoredb_uri)
    first = next(iter(raw.read_all(filter_exclude=[], limit=1)))
    raw.close()
    assert first.stream_name.startswith("$"), "the premise: $all starts with system records"
    store = EventStoreDBEventStore(eventstoredb_uri)
    settings = Settings(data_dir=tmp_path, es_index_prefix=f"r{uuid.uuid4().hex[:8]}")
    container = bootstrap(settings, event_store=store)
    seed(store, 80)

    project_until_caught_up(container)
    serving = container.read_model.open(container.read_model.active())
    before = digests(serving)
    archived = archive_finished_orders(
        store, container.archive, personal=container.personal, before=CUTOFF
    )
    result = Rebuild(
        store, container.archive, container.read_model, container.personal, RebuildOptions()
    ).run()

    assert archived.orders_archived > 0
    assert result.switched, result
    assert result.parity is not None
    assert result.parity.problems == []
    assert digests(container.read_model.open(container.read_model.active())) == before
    for check in container.readiness(search=True, write=True).values():
        check()  # raises when not ready
    container.close()
