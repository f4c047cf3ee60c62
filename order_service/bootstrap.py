"""The composition root: builds each process's object graph from settings, and nothing at import."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from order_service.application import OrderCommands
from order_service.eventstore.port import EventStore
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.http.ops import ReadinessCheck
from order_service.idempotency import IdempotencyKeys
from order_service.repository import OrderRepository
from order_service.settings import Settings, sqlite_path


@dataclass
class Container:
    """What a process needs, built once at start and closed at stop."""

    settings: Settings
    event_store: EventStore
    repository: OrderRepository
    commands: OrderCommands
    idempotency: IdempotencyKeys
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)

    def close(self) -> None:
        """Release engine connections."""
        self.event_store.close()


def open_event_store(settings: Settings) -> EventStore:
    url = settings.event_store_url
    if urlsplit(url).scheme == "sqlite":
        return SQLiteEventStore(sqlite_path(url), poll_interval_s=settings.sqlite_poll_ms / 1000)
    from order_service.eventstore.esdb import EventStoreDBEventStore

    return EventStoreDBEventStore(url)


def bootstrap(settings: Settings, *, event_store: EventStore | None = None) -> Container:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = event_store or open_event_store(settings)
    repository = OrderRepository(store, snapshot_every=settings.snapshot_every)
    return Container(
        settings=settings,
        event_store=store,
        repository=repository,
        commands=OrderCommands(repository, retries=settings.command_retries),
        idempotency=IdempotencyKeys(store),
        readiness={"event_store": store.ping},
    )
