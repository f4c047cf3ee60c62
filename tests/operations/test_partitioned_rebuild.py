"""Partitioned rebuilds: the log's streams split over worker processes give exactly the
documents (and daily-sales sums) one process gives, with an archive; a killed worker fails
the run, and the next run resumes each partition and ends exact."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from order_service.archive.run import archive_finished_orders
from order_service.bootstrap import Container, bootstrap
from order_service.cli import main
from projectors import daily_sales
from projectors.rebuilds.full_log import full_log
from projectors.rebuilds.partitions import Partitions, partition_of
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions, RebuildReport
from projectors.registry import PROJECTIONS
from projectors.status import rebuild_statuses
from tests.operations.conftest import digests, order_head, read_model_settings, seed
from tests.operations.test_first_build import placed_totals
from tests.operations.test_rebuild import CUTOFF, environment, project_named
from tests.polling import eventually

ARGS = ["--workers", "2", "--batch-size", "40"]
FAST = ["--workers", "2", "--batch-size", "20"]
ENGINES = ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]


@pytest.fixture(params=ENGINES)
def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    """Engines opened from settings alone, as each worker process opens them."""
    built = bootstrap(read_model_settings(request, tmp_path, request.param))
    yield built
    built.close()


def rebuild(container: Container, name: str, workers: int, batch_size: int) -> RebuildReport:
    options = RebuildOptions(
        batch_size=batch_size, workers=workers, open_worker=container.rebuild_workers(name)
    )
    return Rebuild(
        container.event_store,
        container.archive,
        container.generations_of(name),
        container.projection_personal,
        options,
        projection=PROJECTIONS[name],
        breakdown=container.breakdown_of(name),
    ).run()


def contents(container: Container, name: str, generation: str) -> dict[str, Any]:
    """Every document's digest, and the sums rows for a projection that keeps sums."""
    store = container.generations_of(name).open(generation)
    found: dict[str, Any] = {"documents": digests(store)}
    if PROJECTIONS[name].parity == "sums":
        found["sums"] = store.sums(equal={})
    return found


def test_partitions_are_a_stable_hash_covering_every_stream_once() -> None:
    streams = [f"order-{number:08d}" for number in range(4000)]
    # Fixed values: the partition of a stream never depends on the process or the release.
    assert [partition_of(stream, 2) for stream in streams[:12]] == [
        0,
        1,
        1,
        0,
        0,
        0,
        1,
        0,
        0,
        1,
        0,
        1,
    ]
    script = (
        "from projectors.rebuilds.partitions import partition_of;"
        "print([partition_of(f'order-{n:08d}', 7) for n in range(200)])"
    )
    others = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert others == {f"{[partition_of(stream, 7) for stream in streams[:200]]}\n"}
    for count in (1, 2, 3, 5, 8):
        shares = Counter(partition_of(stream, count) for stream in streams)
        assert set(shares) == set(range(count))  # every stream in exactly one of them
        assert sum(shares.values()) == len(streams)
        assert min(shares.values()) > 0.8 * len(streams) / count  # roughly even


def test_a_resumed_run_keeps_each_partitions_position_or_starts_all_at_the_slowest() -> None:
    recorded = Partitions(2, 900, [700, 450], [30, 20], [False, False]).record()

    same = Partitions.resumed(recorded, 2, 100, 1000)
    assert same.positions == [700, 450]
    assert (same.until, same.events, same.done) == (1000, [0, 0], [False, False])
    assert Partitions.resumed(recorded, 3, 100, 1000).positions == [450, 450, 450]
    assert Partitions.resumed(recorded, 2, 500, 1000).positions == [700, 500]  # the checkpoint
    unstarted = Partitions(2, 900, [700, None], [30, 0], [False, False]).record()
    assert Partitions.resumed(unstarted, 3, 100, 1000).positions == [100, 100, 100]
    assert Partitions.resumed(None, 2, None, 1000).positions == [None, None]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["order-search", "customer-orders", "daily-sales"])
def test_two_workers_build_exactly_what_one_builds_from_the_archive_and_the_hot_log(
    embedded: Container, name: str
) -> None:
    store = embedded.event_store
    seed(store, 240)
    project_named(embedded, name)
    serving = contents(embedded, name, embedded.generations_of(name).active())
    archived = archive_finished_orders(
        store, embedded.archive, personal=embedded.personal, before=CUTOFF
    )
    assert archived.orders_archived > 0

    alone = rebuild(embedded, name, workers=1, batch_size=97)
    split = rebuild(embedded, name, workers=2, batch_size=53)

    assert alone.switched
    assert split.switched
    assert split.parity is not None
    assert split.parity.problems == []
    assert contents(embedded, name, split.generation) == contents(embedded, name, alone.generation)
    assert contents(embedded, name, split.generation) == serving
    assert alone.partitions == []
    assert [worker["partition"] for worker in split.partitions] == [0, 1]
    read = {worker["events_read"] for worker in split.partitions}
    assert read == {alone.events}, "each worker reads the whole log"
    assert sum(worker["events_folded"] for worker in split.partitions) == split.events
    assert split.events == alone.events
    assert embedded.generations_of(name).active() == split.generation


@pytest.mark.slow
@pytest.mark.parametrize(
    ("engine", "name"),
    [
        ("sqlite", "order-search"),
        ("sqlite", "daily-sales"),
        pytest.param("elasticsearch", "order-search", marks=pytest.mark.elasticsearch),
    ],
)
def test_a_killed_worker_fails_the_rebuild_and_the_next_run_resumes_exact(
    engine: str, name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    container = bootstrap(read_model_settings(request, tmp_path, engine))
    try:
        store = container.event_store
        seed(store, 300)
        project_named(container, name)
        generations = container.generations_of(name)
        old = generations.active()
        before = contents(container, name, old)
        archive_finished_orders(
            store, container.archive, personal=container.personal, before=CUTOFF
        )

        killed = subprocess.run(
            [
                sys.executable,
                "-m",
                "order_service.cli",
                "projection",
                "rebuild",
                name,
                "--workers",
                "2",
                "--batch-size",
                "40",
            ],
            env={**environment(container), "ORDERS_FAILPOINT": "rebuild-batch:3"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

        assert killed.returncode == 1, killed.stderr
        said = " ".join(killed.stderr.split())
        assert "killed by signal 9" in said
        assert "run the rebuild again to resume it" in said
        assert generations.active() == old
        [status] = rebuild_statuses(store, generations, name=name)
        assert status.progress is not None
        recorded = status.progress["partitions"]
        assert recorded["count"] == 2
        assert recorded["done"] == [False, False]
        assert any(position is not None for position in recorded["positions"])
        assert status.progress["events"] == sum(recorded["events"]) >= 40

        resumed = rebuild(container, name, workers=2, batch_size=40)

        assert resumed.resumed
        assert resumed.generation == status.generation
        assert resumed.switched
        assert resumed.parity is not None
        assert resumed.parity.problems == []
        assert contents(container, name, resumed.generation) == before
        total = sum(1 for _ in full_log(store, container.archive))
        # Each partition resumed after its own recorded position: nothing folded twice.
        assert resumed.events == total - status.progress["events"]
        assert order_head(store) <= (
            generations.open(resumed.generation).checkpoint().position or 0
        )
    finally:
        container.close()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_a_first_build_with_rebuild_workers_set_is_split_stopped_resumed_and_exact(
    engine: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = read_model_settings(request, tmp_path, engine)
    container = bootstrap(settings.model_copy(update={"rebuild_workers": 2}))
    try:
        store = container.event_store
        seed(store, 200)
        expected = placed_totals(container)
        archive_finished_orders(
            store, container.archive, personal=container.personal, before=CUTOFF
        )
        upgrade = container.schema_upgrade(daily_sales.NAME)
        assert upgrade.first_build()
        upgrade.options.batch_size = 50

        assert upgrade.apply(stopped=lambda: True) is False  # the workers stopped, resumable
        assert upgrade.due()
        with monkeypatch.context() as failing:  # each worker dies at its second batch
            failing.setenv("ORDERS_FAILPOINT", "rebuild-batch:2")
            assert upgrade.apply() is False  # said in the log; the projector tries again later
        assert "worker" in caplog.text
        assert "killed by signal 9" in caplog.text
        assert upgrade.due()
        report = upgrade.run()

        assert isinstance(report, RebuildReport)
        assert report.switched
        assert [worker["partition"] for worker in report.partitions] == [0, 1]
        rows = container.serving_store(daily_sales.NAME).sums(equal={})  # type: ignore[union-attr]
        assert (sum(r["orders_placed"] for r in rows), sum(r["placed_total"] for r in rows)) == (
            expected
        )
    finally:
        container.close()


def test_fewer_than_one_worker_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["projection", "rebuild", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc), found while it lives."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_workers_stop_when_the_rebuild_process_is_killed_and_the_next_run_resumes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    container = bootstrap(read_model_settings(request, tmp_path, "sqlite"))
    try:
        store = container.event_store
        seed(store, 1500)
        project_named(container, "order-search")
        before = contents(container, "order-search", container.read_model.active())
        coordinator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "order_service.cli",
                "projection",
                "rebuild",
                "--workers",
                "2",
                "--batch-size",
                "20",
            ],
            env=environment(container),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def folding() -> bool:
            statuses = rebuild_statuses(store, container.read_model, name="order-search")
            progress = statuses[0].progress if statuses else None
            return bool(progress and sum(progress.get("partitions", {}).get("events", [])))

        assert eventually(folding, 120), "the workers did not start folding"
        workers = children_of(coordinator.pid)
        assert len(workers) >= 2
        coordinator.kill()
        coordinator.wait(30)

        assert eventually(lambda: not any(alive(pid) for pid in workers), 120, every_s=0.2)
        resumed = rebuild(container, "order-search", workers=2, batch_size=200)
        assert resumed.resumed
        assert resumed.switched
        assert contents(container, "order-search", resumed.generation) == before
    finally:
        container.close()
