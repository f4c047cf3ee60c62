"""The generations contract for document and aggregate projections: what rebuilds, parity,
schema upgrades, rollbacks and drops rely on, whatever the engine. Subclass it per adapter
with a ``generations`` fixture built from ``customer_orders.PROJECTION`` (its mapping indexing
``customer_id``) on a read model of its own."""

from __future__ import annotations

import dataclasses

import pytest

from projectors import customer_orders
from projectors.port import Changes, Generational, ProjectionStore
from projectors.read_models.generations import GenerationError

Generations = Generational[ProjectionStore]


def order(order_id: str, customer_id: str, *, version: int = 0) -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "currency": "EUR",
        "version": version,
        "position": 10 + version,
    }


class ProjectionGenerationsContract:
    def test_setup_makes_one_active_generation_at_the_declared_schema(
        self, generations: Generations
    ) -> None:
        generations.setup()  # idempotent: a second setup changes nothing
        [only] = generations.generations()
        assert (only.name, only.state) == (generations.active(), "active")
        assert only.schema_version == customer_orders.SCHEMA_VERSION

    def test_a_new_generation_is_built_apart_then_switched_to_and_back(
        self, generations: Generations
    ) -> None:
        serving = generations.active()
        generations.open(serving).write(Changes({"a": order("a", "c1")}, checkpoint=10))
        building = generations.create()
        new = generations.open(building)
        assert new.count() == 0
        assert new.checkpoint().position is None
        new.write(Changes({"b": order("b", "c2")}, checkpoint=11))

        assert generations.switch(building) == serving
        assert generations.active() == building
        assert [d["order_id"] for d in generations.open(building).find("customer_id", "c2")] == [
            "b"
        ]
        assert generations.rollback_target() == serving
        generations.switch(serving)
        assert generations.open(serving).get("a") is not None

    def test_the_active_generation_cannot_be_dropped_and_a_dropped_one_is_gone(
        self, generations: Generations
    ) -> None:
        building = generations.create()
        generations.open(building).write(Changes({"b": order("b", "c2")}, checkpoint=11))
        with pytest.raises(GenerationError):
            generations.drop(generations.active())
        generations.drop(building)
        assert [g.name for g in generations.generations()] == [generations.active()]

    def test_a_generation_records_the_schema_version_it_was_migrated_to(
        self, generations: Generations
    ) -> None:
        active = generations.active()
        generations.set_schema_version(active, 2)
        assert generations.schema_version(active) == 2


class AdditiveFieldsContract:
    """``add_fields``: a store opened with a mapping that indexes one more field than the
    stored generation has adds it, filled from the documents. Subclass with ``older`` and
    ``newer``: one generation opened with customer-orders' mapping, then with ``currency``
    indexed as well."""

    def test_a_field_added_is_filled_from_the_stored_documents(
        self, older: ProjectionStore, newer: ProjectionStore
    ) -> None:
        older.write(Changes({"a": order("a", "c1"), "b": order("b", "c2")}, checkpoint=11))

        assert newer.add_fields() == ["currency"]

        assert sorted(d["order_id"] for d in newer.find("currency", "EUR")) == ["a", "b"]
        assert newer.add_fields() == []  # once added, nothing more to add


BUMPED = dataclasses.replace(customer_orders.PROJECTION, schema_version=2, additive_from=1)
