"""A bumped schema version, met by the projector on a read model the previous declaration
wrote: no crash, the older generation keeps answering, a new generation is built beside it
and switched to only once parity holds; an additive bump migrates in place instead."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from order_service.bootstrap import Container, bootstrap
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.settings import Settings
from projectors import customer_orders, daily_sales, order_search, registry
from projectors.port import SearchQuery
from projectors.projection import Document
from projectors.read_models.elasticsearch_document_mappings import ElasticsearchMapping
from projectors.read_models.sqlite_documents import SQLiteMapping
from projectors.runner import ProjectorOptions
from tests.operations.conftest import digests, order_head, seed
from tests.polling import eventually


@pytest.fixture(params=["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Each test on each engine: SQLite files, or index families in Elasticsearch."""
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path / "data")
        return
    prefix = f"t{uuid.uuid4().hex[:10]}"
    url = request.getfixturevalue("elasticsearch_url")
    yield Settings(
        data_dir=tmp_path / "data", read_model_url=url, es_index_prefix=prefix, es_replicas=0
    )
    with closing(Elasticsearch(url)) as client:
        client.indices.delete(index=f"{prefix}-*", expand_wildcards="all")


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def opened(settings: Settings) -> Container:
    store = SQLiteEventStore(settings.data_dir / "events.db", poll_interval_s=0.02)
    return bootstrap(settings, event_store=store)


@pytest.fixture
def previous(settings: Settings) -> Iterator[Container]:
    """The log and a read model as the previous declaration left them (its file, closed)."""
    container = opened(settings)
    seed(container.event_store, 40)
    project(container, daily_sales.NAME, customer_orders.NAME, until=lambda: True)
    yield container
    container.close()


def project(container: Container, *names: str, until: Any) -> None:
    """The production projectors in threads until each has reached the log's head and
    ``until()`` holds."""
    head = order_head(container.event_store)
    projectors = container.projectors(list(names))
    threads = []
    for projector in projectors:
        projector.options = ProjectorOptions(batch_size=50, flush_interval_s=0.01)
        threads.append(threading.Thread(target=projector.run, daemon=True))
        threads[-1].start()
    try:
        assert eventually(
            lambda: (
                all(
                    (container.serving_store(name).checkpoint().position or 0) >= head
                    for name in names
                )
                and until()
            ),
            within_s=120,
        ), "the projectors did not get there"
    finally:
        for projector in projectors:
            projector.stop()
        for thread in threads:
            thread.join(30)


def rows(container: Container) -> list[dict[str, Any]]:
    return container.projection_stores[daily_sales.NAME].sums(equal={})


def declare(
    monkeypatch: pytest.MonkeyPatch,
    projection: Any,
    sqlite: SQLiteMapping | None = None,
    elasticsearch: ElasticsearchMapping | None = None,
) -> None:
    """This code's declaration (what a deploy of the new version brings)."""
    monkeypatch.setitem(registry.PROJECTIONS, projection.name, projection)
    if sqlite is not None:
        monkeypatch.setitem(registry.SQLITE, projection.name, sqlite)
    if elasticsearch is not None:
        monkeypatch.setitem(registry.ELASTICSEARCH, projection.name, elasticsearch)


def test_a_bumped_version_is_rebuilt_beside_and_switched_to_after_parity(
    previous: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = rows(previous)
    assert before
    assert previous.projection_generations[daily_sales.NAME].active() == "g1"
    previous.close()
    declare(monkeypatch, dataclasses.replace(daily_sales.PROJECTION, schema_version=2))

    upgraded = opened(settings)
    try:
        generations = upgraded.projection_generations[daily_sales.NAME]
        assert generations.schema_version("g1") == 1
        assert rows(upgraded) == before  # no crash: the older generation keeps answering
        seed(upgraded.event_store, 10)  # orders placed while the new code deploys

        project(upgraded, daily_sales.NAME, until=lambda: generations.active() != "g1")

        new = generations.active()
        assert generations.schema_version(new) == 2
        states = {g.name: g for g in generations.generations()}
        assert states["g1"].state == "standby"
        assert states[new].progress["state"] == "switched"
        assert generations.rollback_target() == "g1"
        assert sum(r["orders_placed"] for r in rows(upgraded)) == 50
    finally:
        upgraded.close()


def _doubled(document: Document, data: dict[str, Any]) -> Document:
    placed = daily_sales.PROJECTION.handles["OrderPlaced"](document, data)
    return {**placed, "placed_total": 2 * placed["placed_total"]}


def test_a_bumped_version_whose_sums_differ_is_built_but_not_switched_to(
    previous: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = rows(previous)
    previous.close()
    changed = dataclasses.replace(
        daily_sales.PROJECTION,
        schema_version=2,
        handles={**daily_sales.PROJECTION.handles, "OrderPlaced": _doubled},
    )
    declare(monkeypatch, changed)

    upgraded = opened(settings)
    try:
        generations = upgraded.projection_generations[daily_sales.NAME]

        def refused() -> bool:
            building = [g for g in generations.generations() if g.state == "rebuilding"]
            return bool(building) and building[0].progress.get("state", "").startswith("refused")

        project(upgraded, daily_sales.NAME, until=refused)

        assert generations.active() == "g1"  # parity failed: the older one keeps serving
        assert rows(upgraded) == before
        [building] = [g for g in generations.generations() if g.state == "rebuilding"]
        assert building.schema_version == 2
        assert "sums rows differ" in building.progress["state"]
    finally:
        upgraded.close()


def test_an_additive_bump_adds_and_backfills_the_field_in_place(
    previous: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = previous.projection_stores[customer_orders.NAME]
    eur = [d["order_id"] for d in old.scan() if d.get("currency") == "EUR"]
    assert eur
    with pytest.raises(ValueError, match="not an indexed column"):
        old.find("currency", "EUR")
    previous.close()
    columns = {**customer_orders.SQLITE.columns, "currency": lambda d: d.get("currency")}
    declare(
        monkeypatch,
        dataclasses.replace(
            customer_orders.PROJECTION,
            schema_version=customer_orders.SCHEMA_VERSION + 1,
            additive_from=customer_orders.SCHEMA_VERSION,
        ),
        SQLiteMapping(columns=columns),
        dataclasses.replace(customer_orders.ELASTICSEARCH, columns=("customer_id", "currency")),
    )

    upgraded = opened(settings)
    try:
        generations = upgraded.projection_generations[customer_orders.NAME]
        project(
            upgraded,
            customer_orders.NAME,
            until=lambda: generations.schema_version("g1") == customer_orders.SCHEMA_VERSION + 1,
        )

        assert [g.name for g in generations.generations()] == ["g1"]  # nothing rebuilt
        store = upgraded.projection_stores[customer_orders.NAME]
        assert sorted(d["order_id"] for d in store.find("currency", "EUR")) == sorted(eur)
    finally:
        upgraded.close()


BEFORE_GENERATIONS = Path(__file__).parent.parent / "fixtures" / "read_model_before_generations"
"""The event log (12 orders, seed 7), projections.db and read.db as the code before
generations and schema versions wrote them (commit 0cb1cc6: tables per schema version,
``daily_sales_v1``; order-search's generation records without versions), dumped as SQL."""


@pytest.fixture
def before_generations(sqlite_settings: Settings) -> Settings:
    settings = sqlite_settings
    settings.data_dir.mkdir(parents=True)
    for name in ("events", "projections"):
        with closing(sqlite3.connect(settings.data_dir / f"{name}.db")) as connection:
            connection.executescript((BEFORE_GENERATIONS / f"{name}.sql").read_text())
    return settings


def old_sums(settings: Settings) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(settings.data_dir / "projections.db")) as connection:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM daily_sales_v1_sums ORDER BY day, currency")
        return [dict(row) for row in rows if any(row[f] for f in daily_sales.FIELDS)]


def test_the_tables_kept_per_schema_version_serve_on_as_a_generation(
    before_generations: Settings,
) -> None:
    expected = old_sums(before_generations)
    container = opened(before_generations)
    try:
        generations = container.projection_generations[daily_sales.NAME]
        assert generations.active() == "v1"
        assert generations.schema_version("v1") == 1
        assert rows(container) == expected
        seed(container.event_store, 5)

        project(container, daily_sales.NAME, until=lambda: True)  # same version: follows v1

        assert [g.name for g in generations.generations()] == ["v1"]
        assert sum(r["orders_placed"] for r in rows(container)) == 17
    finally:
        container.close()


def test_a_bump_over_tables_kept_per_schema_version_rebuilds_beside_them(
    before_generations: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = old_sums(before_generations)
    declare(monkeypatch, dataclasses.replace(daily_sales.PROJECTION, schema_version=2))
    container = opened(before_generations)
    try:
        generations = container.projection_generations[daily_sales.NAME]
        assert rows(container) == expected  # served from v1 until the new one is switched to

        project(container, daily_sales.NAME, until=lambda: generations.active() == "g2")

        assert generations.schema_version("g2") == 2
        assert rows(container) == expected  # the same log: parity held
        assert generations.rollback_target() == "v1"
    finally:
        container.close()


def test_an_order_search_read_model_from_before_versions_is_rebuilt_at_this_one(
    before_generations: Settings,
) -> None:
    """read.sql: order-search as 0cb1cc6 left it after ``orders projection rebuild
    order-search --force`` (g2 serving, its record naming no schema version; documents of
    schema 1, without the fields relevance searches)."""
    settings = before_generations
    with closing(sqlite3.connect(settings.data_dir / "read.db")) as connection:
        connection.executescript((BEFORE_GENERATIONS / "read.sql").read_text())
    container = opened(settings)
    try:
        generations = container.read_model
        assert generations.active() == "g2"
        assert generations.schema_version("g2") == 1  # the release recorded none

        project(container, order_search.NAME, until=lambda: generations.active() == "g3")

        assert generations.schema_version("g3") == order_search.SCHEMA_VERSION
        found = generations.open("g3").search(SearchQuery(text="sophie", sort="relevance"))
        assert [hit["order_id"] for hit in found.hits] == ["ord-7-00000000"]
    finally:
        container.close()


def test_order_search_is_upgraded_the_same_way(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = opened(settings)
    seed(container.event_store, 30)
    project(container, order_search.NAME, until=lambda: True)
    before = digests(container.read_model.open("g1"))
    container.close()
    bumped = order_search.SCHEMA_VERSION + 1
    declare(monkeypatch, dataclasses.replace(order_search.PROJECTION, schema_version=bumped))

    upgraded = opened(settings)
    try:
        generations = upgraded.read_model
        assert generations.schema_version("g1") == order_search.SCHEMA_VERSION
        project(upgraded, order_search.NAME, until=lambda: generations.active() == "g2")

        assert generations.schema_version("g2") == bumped
        assert digests(generations.open("g2")) == before
        states = {g.name: g for g in generations.generations()}
        assert states["g2"].progress["state"] == "switched"
    finally:
        upgraded.close()


def test_an_upgrade_stopped_midway_resumes_its_generation_on_the_next_start(
    previous: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = rows(previous)
    previous.close()
    declare(monkeypatch, dataclasses.replace(daily_sales.PROJECTION, schema_version=2))
    upgraded = opened(settings)
    try:
        upgrade = upgraded.schema_upgrade(daily_sales.NAME)
        upgrade.options.batch_size = 7
        generations = upgrade.generations

        assert upgrade.apply(stopped=lambda: True) is False  # the process shuts down
        [building] = [g for g in generations.generations() if g.state == "rebuilding"]
        reached = generations.open(building.name).checkpoint().position
        assert reached is not None
        assert 0 < reached < order_head(upgraded.event_store)
        assert generations.active() == "g1"

        assert upgrade.apply() is True  # the next start
        assert generations.active() == building.name  # the same generation, resumed
        assert rows(upgraded) == before
    finally:
        upgraded.close()
