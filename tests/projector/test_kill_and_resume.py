"""A real projector process, killed with SIGKILL mid-stream again and again, ends exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from order_service.events import order_stream
from order_service.eventstore.sqlite import SQLiteEventStore
from projectors.order_search import fold
from projectors.port import OrderSearchIndex
from projectors.read_models.elasticsearch_index import ElasticsearchOrderIndex
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from tests.factories import personal_data
from tests.projector.test_projector import head, seed
from tests.servers import free_port

KILLS = (0.2, 0.45, 0.7)


def start_projector(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "order_service.cli", "project", "order-search"],
        env={**os.environ, **env, "ORDERS_PORT": str(free_port()), "ORDERS_LOG_LEVEL": "warning"},
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_checkpoint(index: OrderSearchIndex, at_least: int, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        position = index.checkpoint().position or 0
        if position >= at_least:
            return position
        time.sleep(0.005)  # polling the read model's own checkpoint, the condition we wait for
    raise AssertionError(f"checkpoint never reached {at_least}")


@pytest.mark.slow
@pytest.mark.parametrize(
    "read_model", ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]
)
def test_a_projector_killed_mid_stream_resumes_to_exactly_the_same_documents(
    tmp_path: Path, read_model: str, request: pytest.FixtureRequest
) -> None:
    store = SQLiteEventStore(tmp_path / "events.db")
    ids = seed(store, 1500)
    end = head(store)
    env = {
        "ORDERS_EVENT_STORE": f"sqlite:///{tmp_path / 'events.db'}",
        "ORDERS_PROJECTION_BATCH_SIZE": "10",
    }
    index: OrderSearchIndex
    if read_model == "sqlite":
        env["ORDERS_READ_MODEL"] = f"sqlite:///{tmp_path / 'read.db'}"
        index = SQLiteOrderIndex(tmp_path / "read.db")
    else:
        prefix = f"k{uuid.uuid4().hex[:10]}"
        url = request.getfixturevalue("elasticsearch_url")
        env |= {
            "ORDERS_READ_MODEL": url,
            "ORDERS_ES_INDEX_PREFIX": prefix,
            "ORDERS_ES_REPLICAS": "0",
        }
        index = ElasticsearchOrderIndex(url, prefix=prefix, replicas=0)

    index.setup()
    killed_at = []
    for fraction in KILLS:
        projector = start_projector(env, tmp_path)
        killed_at.append(wait_for_checkpoint(index, int(end * fraction)))
        projector.send_signal(signal.SIGKILL)
        projector.wait(timeout=30)
    projector = start_projector(env, tmp_path)
    wait_for_checkpoint(index, end)
    projector.send_signal(signal.SIGINT)
    projector.wait(timeout=30)

    assert killed_at[0] < end, "the first kill must land mid-stream"
    documents = index.documents(ids)
    for order_id in ids:
        assert documents[order_id] == fold(
            store.read_stream(order_stream(order_id)), personal_data(store)
        )
    assert index.dead_letter_count() == 0
    index.close()
    store.close()
