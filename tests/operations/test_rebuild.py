"""Blue/green rebuilds: from the archive and the hot log, from a read-model snapshot, resumed
after a kill; identical documents every time, and a switch only when the new one is whole."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from order_service.application import OrderCommands
from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import Container, bootstrap
from order_service.cli import main
from order_service.events import Causation
from order_service.repository import OrderRepository
from order_service.settings import Settings
from projectors.port import Changes
from projectors.read_models.generations import GenerationError
from projectors.read_models.sqlite_index import SQLiteOrderIndex
from projectors.rebuilds import snapshot_file
from projectors.rebuilds.parity import compare
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions
from projectors.registry import PROJECTIONS
from projectors.runner import ProjectorOptions
from projectors.status import rebuild_statuses
from tests.operations.conftest import (
    digests,
    order_head,
    project_until_caught_up,
    read_model_settings,
    seed,
)
from tests.polling import eventually

CUTOFF = datetime.now(UTC) - timedelta(days=365)


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    """A SQLite event store in the data directory, as a separate process would open it."""
    built = bootstrap(read_model_settings(request, tmp_path, request.param))
    yield built
    built.close()


def serving_digests(container: Container) -> dict[str, str]:
    return digests(container.read_model.open(container.read_model.active()))


def test_a_rebuild_from_the_archive_and_the_hot_log_reproduces_every_document(
    container: Container,
) -> None:
    seed(container.event_store, 250)
    project_until_caught_up(container)
    old = container.read_model.active()
    before = serving_digests(container)
    archived = archive_finished_orders(
        container.event_store, container.archive, personal=container.personal, before=CUTOFF
    )
    assert archived.orders_archived > 0

    result = Rebuild(
        container.event_store,
        container.archive,
        container.read_model,
        container.personal,
        RebuildOptions(batch_size=97),
    ).run()

    assert result.switched
    assert result.parity is not None
    assert result.parity.problems == []
    assert result.parity.identical == result.parity.sampled > 0
    assert container.read_model.active() == result.generation != old
    assert serving_digests(container) == before
    assert container.read_model.rollback_target() == old


def test_a_rebuild_from_a_read_model_snapshot_replays_only_the_later_events(
    container: Container, tmp_path: Path
) -> None:
    store = container.event_store
    seed(store, 150)
    project_until_caught_up(container)
    serving = container.read_model.open(container.read_model.active())
    header, exported = snapshot_file.export(
        serving, tmp_path / "rm.jsonl.gz", container.personal, generation="g1"
    )
    seed(store, 60)
    commands = OrderCommands(OrderRepository(store, container.personal))
    first = next(iter(digests(serving)))
    asyncio.run(commands.add_note(first, Causation("t", "t"), author="agent", text="late"))
    project_until_caught_up(container)
    before = serving_digests(container)
    later = len(store.read_all(after=header.checkpoint, limit=1_000_000, stream_prefix="order-"))

    result = Rebuild(
        store,
        None,
        container.read_model,
        container.personal,
        RebuildOptions(batch_size=50, snapshot=tmp_path / "rm.jsonl.gz"),
    ).run()

    assert result.documents_loaded == exported == 150
    assert result.events == later
    assert result.switched
    assert serving_digests(container) == before


def test_a_cut_short_read_model_snapshot_is_refused(container: Container, tmp_path: Path) -> None:
    seed(container.event_store, 30)
    project_until_caught_up(container)
    path = tmp_path / "rm.jsonl.gz"
    snapshot_file.export(container.search_index, path, container.personal, generation="g1")
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-5])))

    with pytest.raises(snapshot_file.SnapshotFileError):
        list(snapshot_file.documents(path, container.personal))


def test_a_rebuild_without_the_archive_is_refused_then_forced(embedded: Container) -> None:
    # On SQLite archived events are gone from the hot store. (EventStoreDB still returns
    # them from $all until a scavenge, so there the same rebuild is whole.)
    container = embedded
    seed(container.event_store, 150)
    project_until_caught_up(container)
    old = container.read_model.active()
    archive_finished_orders(
        container.event_store, container.archive, personal=container.personal, before=CUTOFF
    )

    refused = Rebuild(
        container.event_store, None, container.read_model, container.personal, RebuildOptions()
    ).run()

    assert not refused.switched
    assert any("dead letters" in problem for problem in refused.refused)
    assert container.read_model.active() == old
    statuses = rebuild_statuses(container.event_store, container.read_model, name="order-search")
    assert [status.generation for status in statuses] == [refused.generation]
    assert "refused" in (statuses[0].progress or {}).get("state", "")

    forced = Rebuild(
        container.event_store,
        None,
        container.read_model,
        container.personal,
        RebuildOptions(force=True),
    ).run()
    assert forced.resumed
    assert forced.generation == refused.generation
    assert forced.switched
    assert container.read_model.active() == forced.generation
    with pytest.raises(GenerationError):
        container.read_model.drop(forced.generation)
    container.read_model.switch(old)  # roll back to the whole one
    container.read_model.drop(forced.generation)
    assert forced.generation not in [g.name for g in container.read_model.generations()]


def test_parity_refuses_a_generation_with_fewer_orders(tmp_path: Path) -> None:
    container = bootstrap(Settings(data_dir=tmp_path / "data"))
    seed(container.event_store, 40)
    project_until_caught_up(container)
    serving = container.read_model.open("g1")
    partial = SQLiteOrderIndex(tmp_path / "other.db")
    partial.setup()
    documents = dict(list({d["order_id"]: d for d in serving.scan()}.items())[:30])
    partial.write(Changes(documents=documents))

    report = compare(container.event_store, ("g1", serving), ("g9", partial), sample=50)

    assert report.totals == (40, 30)
    assert report.problems == ["g9 has fewer orders than g1 (30 < 40)"]
    assert report.differences, "orders missing from the new generation are listed"
    container.close()


def environment(container: Container) -> dict[str, str]:
    settings = container.settings
    env = {key: value for key, value in os.environ.items() if not key.startswith("ORDERS_")}
    env |= {
        "ORDERS_DATA_DIR": str(settings.data_dir),
        "ORDERS_ES_REPLICAS": "0",
        "ORDERS_KEY_ENCRYPTION_KEY": settings.key_encryption_key,  # the keys' wrapping key
    }
    if settings.read_model:
        env |= {
            "ORDERS_READ_MODEL": settings.read_model,
            "ORDERS_ES_INDEX_PREFIX": settings.es_index_prefix,
        }
    return env


@pytest.mark.slow
def test_a_rebuild_killed_halfway_resumes_from_its_own_checkpoint(
    embedded: Container, tmp_path: Path
) -> None:
    store = embedded.event_store
    seed(store, 600)
    project_until_caught_up(embedded)
    before = serving_digests(embedded)
    old = embedded.read_model.active()

    killed = subprocess.run(
        [sys.executable, "-m", "order_service.cli", "projection", "rebuild", "--batch-size", "200"],
        env={**environment(embedded), "ORDERS_FAILPOINT": "rebuild-batch:4"},
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
        check=False,
    )

    assert killed.returncode == -9, killed.stderr
    assert embedded.read_model.active() == old
    [status] = rebuild_statuses(store, embedded.read_model, name="order-search")
    assert status.state == "rebuilding"
    assert status.checkpoint is not None
    assert 0 < status.checkpoint < order_head(store)
    assert status.progress is not None
    assert 200 <= status.progress["events"] <= 800
    assert 0 < status.progress["fraction"] < 1
    assert status.progress["eta_s"] is not None
    assert status.progress["events_per_s"] > 0

    resumed = Rebuild(
        store, embedded.archive, embedded.read_model, embedded.personal, RebuildOptions()
    ).run()

    assert resumed.resumed
    assert resumed.generation == status.generation
    assert resumed.events == len(
        store.read_all(after=status.checkpoint, limit=10**6, stream_prefix="order-")
    )
    assert resumed.switched
    assert serving_digests(embedded) == before


def project_named(container: Container, name: str) -> None:
    """One projection's production projector, in a thread, until it reaches the last event."""
    head = order_head(container.event_store)
    [projector] = container.projectors([name])
    projector.options = ProjectorOptions(batch_size=200, flush_interval_s=0.01)
    with projector.running():
        assert eventually(
            lambda: (container.serving_store(name).checkpoint().position or 0) >= head, 60
        ), f"{name} did not catch up"


@pytest.mark.parametrize("name", ["customer-orders", "daily-sales"])
def test_every_projection_rebuilds_rolls_back_and_drops_from_the_command_line(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    monkeypatch.setenv("ORDERS_DATA_DIR", str(settings.data_dir))
    container = bootstrap(settings)
    try:
        seed(container.event_store, 60)
        project_named(container, name)
        generations = container.generations_of(name)
        before = digests(generations.open("g1"))
        capsys.readouterr()

        assert main(["projection", "rebuild", name, "--dry-run"]) == 0
        assert "would build" in capsys.readouterr().err
        assert generations.active() == "g1"
        assert main(["projection", "rebuild", name, "--batch-size", "37"]) == 0
        said = capsys.readouterr().err
        assert "parity: g1 (serving) vs g2 (new)" in said
        if name == "daily-sales":
            assert "sums at position" in said

        assert generations.active() == "g2"
        assert digests(generations.open("g2")) == before
        assert main(["projection", "generations", name, "--json"]) == 0
        listed = {g["name"]: g for g in json.loads(capsys.readouterr().out)}
        assert (listed["g1"]["state"], listed["g2"]["state"]) == ("standby", "active")
        assert listed["g2"]["schema_version"] == PROJECTIONS[name].schema_version
        assert main(["projection", "rollback", name]) == 0
        assert generations.active() == "g1"
        assert main(["projection", "drop", "g1", "--projection", name]) == 1  # it serves
        assert main(["projection", "drop", "g2", "--projection", name]) == 0
        assert [g.name for g in generations.generations()] == ["g1"]
    finally:
        container.close()


def test_sums_parity_holds_while_the_live_projector_and_checkout_keep_writing(
    tmp_path: Path,
) -> None:
    container = bootstrap(Settings(data_dir=tmp_path / "data"))
    try:
        seed(container.event_store, 80)
        head = order_head(container.event_store)
        served = threading.Event()

        def flushed(checkpoint: int) -> None:
            if checkpoint >= head:
                served.set()

        [projector] = container.projectors(["daily-sales"])
        projector.options = ProjectorOptions(
            batch_size=50, flush_interval_s=0.005, on_flush=flushed
        )
        placing = threading.Thread(target=seed, args=(container.event_store, 80), daemon=True)
        with projector.running():
            # The serving generation has sums to compare before the rebuild starts (with
            # none yet, both would be compared empty, at no position).
            assert served.wait(60), "the live projector did not catch up"
            placing.start()
            result = Rebuild(
                container.event_store,
                container.archive,
                container.generations_of("daily-sales"),
                container.projection_personal,
                RebuildOptions(batch_size=23),
                projection=PROJECTIONS["daily-sales"],
            ).run()
            placing.join(60)

        assert result.parity is not None
        assert result.parity.kind == "sums"
        assert result.parity.problems == []
        assert result.parity.position is not None
        assert result.parity.identical == result.parity.sampled > 0
        assert result.switched
    finally:
        container.close()
