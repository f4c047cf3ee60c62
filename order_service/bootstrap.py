"""The composition root: builds each process's object graph from settings, and nothing at import."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from order_service.access.api_keys import ApiKeys
from order_service.access.authenticate import Authenticator
from order_service.access.oidc import OidcVerifier
from order_service.access.sessions import Sessions, load_secret
from order_service.application import OrderCommands
from order_service.archive.cold import ColdArchive
from order_service.eventstore.port import EventStore
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.http.ops import ReadinessCheck, Watchdog
from order_service.idempotency import IdempotencyKeys
from order_service.personal.cipher import KeyEncryptionKey
from order_service.personal.codec import PersonalData
from order_service.personal.erasure import Erasure
from order_service.personal.keys import CustomerKeys, key_encryption_key
from order_service.personal.private_files import keep_private
from order_service.repository import OrderRepository
from order_service.settings import Settings, sqlite_path
from order_service.tracing import Tracing, start_tracing
from projectors.lease import Lease
from projectors.order_search import NAME
from projectors.port import Generational, ProjectionStore, ReadModel
from projectors.read_models.generations import ActiveDocuments, ActiveIndex
from projectors.read_models.leases import leases_beside
from projectors.read_models.sqlite_documents import SQLiteDocumentGenerations
from projectors.rebuilds.parity import Breakdown, status_counts
from projectors.rebuilds.partitions import WorkerGraph, WorkerOpener
from projectors.rebuilds.rebuild import RebuildOptions
from projectors.rebuilds.upgrade import SchemaUpgrade
from projectors.registry import ELASTICSEARCH, PROJECTIONS, SQLITE
from projectors.runner import Projector, ProjectorOptions
from projectors.status import projection_status
from search_api.freshness import Freshness

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from projectors.read_models.elasticsearch_index import Credentials

log = logging.getLogger(__name__)
PROJECTION_KEY_TTL_S = 600.0


@dataclass
class Container:
    """What a process needs; engines are opened on first use, so each process opens only its own."""

    settings: Settings
    event_store: EventStore
    projection_names: list[str] | None = None
    """The projections this process runs (``orders project NAME ...``); None: all."""
    service: str = "orders"
    """The process, as traces name it unless OTEL_SERVICE_NAME does (set by its app)."""
    span_exporter: SpanExporter | None = None
    """Where spans go as they end (tests); None: OTEL_TRACES_EXPORTER's, in batches."""
    failover: bool = False
    """Each projector projects only while it holds its projection's lease, so several
    processes may run it: one active, the others standing by (``orders project``)."""

    @cached_property
    def tracing(self) -> Tracing:
        """Off unless ORDERS_TRACING; the no-op tracer then, and no SDK."""
        return start_tracing(self.settings.tracing, self.service, exporter=self.span_exporter)

    @cached_property
    def personal(self) -> PersonalData:
        return open_personal_data(self.settings, self.event_store)

    @cached_property
    def projection_personal(self) -> PersonalData:
        """Keys for projecting: kept until the log itself says a customer was erased (the
        projector meets each erasure in log order), not re-read every few seconds."""
        return open_personal_data(self.settings, self.event_store, ttl_s=PROJECTION_KEY_TTL_S)

    @cached_property
    def erasure(self) -> Erasure:
        return Erasure(
            self.event_store,
            self.personal.keys,
            self.personal,
            self.commands,
            self.read_model,
            self.archive,
        )

    @cached_property
    def repository(self) -> OrderRepository:
        return OrderRepository(
            self.event_store,
            self.personal,
            snapshot_every=self.settings.snapshot_every,
            cache_size=self.settings.order_cache_size,
            tracing=self.tracing,
        )

    @cached_property
    def commands(self) -> OrderCommands:
        return OrderCommands(self.repository, retries=self.settings.command_retries)

    @cached_property
    def idempotency(self) -> IdempotencyKeys:
        return IdempotencyKeys(self.event_store, self.personal)

    @cached_property
    def api_keys(self) -> ApiKeys:
        return ApiKeys(self.event_store)

    @cached_property
    def authenticator(self) -> Authenticator:
        settings = self.settings
        oidc = (
            OidcVerifier(
                settings.oidc_issuer,
                settings.oidc_audience,
                roles_claim=settings.oidc_roles_claim,
                jwks_url=settings.oidc_jwks_url or None,
            )
            if settings.oidc_issuer
            else None
        )
        return Authenticator(self.api_keys, oidc, self.sessions)

    @cached_property
    def sessions(self) -> Sessions:
        secret = load_secret(self.settings.session_secret, self.settings.data_dir)
        return Sessions(secret, self.api_keys, lifetime_s=self.settings.session_hours * 3600)

    @cached_property
    def read_model(self) -> ReadModel:
        read_model = open_read_model(self.settings)
        try:
            read_model.setup()
        except read_model.unavailable_errors as error:
            # Searches answer 503 until the engine is back; the projector sets it up then.
            log.warning("the read model is not reachable yet: %s", error)
        return read_model

    @cached_property
    def search_index(self) -> ActiveIndex:
        """Reads (and repairs) follow whichever generation is active."""
        return ActiveIndex(self.read_model)

    @cached_property
    def archive(self) -> ColdArchive:
        return ColdArchive(self.settings.archive_path)

    @cached_property
    def freshness(self) -> Freshness:
        return Freshness(self.event_store, self.search_index, NAME)

    @cached_property
    def projection_generations(self) -> dict[str, Generational[ProjectionStore]]:
        """The generations of the projections other than order-search, by name: on the
        read model's engine (``open_projection_generations``)."""
        found = open_projection_generations(self.settings)
        for name, generations in found.items():
            try:
                generations.setup()
            except Exception as error:  # reads answer 503; the projector retries setting up
                log.warning("the %s read model cannot be set up yet: %s", name, error)
        return found

    @cached_property
    def projection_stores(self) -> dict[str, ActiveDocuments]:
        """Each of those projections' serving generation, followed (what reads use)."""
        return {
            name: ActiveDocuments(generations, name)
            for name, generations in self.projection_generations.items()
        }

    def generations_of(self, name: str) -> Generational[Any]:
        """Any projection's generations, by name (KeyError naming the known ones)."""
        if name == NAME:
            return self.read_model
        try:
            return self.projection_generations[name]
        except KeyError:
            raise KeyError(f"no projection {name!r} (known: {', '.join(PROJECTIONS)})") from None

    def serving_store(self, name: str) -> ActiveIndex | ActiveDocuments:
        """Any projection's serving generation, followed (dead letters, repairs)."""
        if name == NAME:
            return self.search_index
        self.generations_of(name)  # the KeyError for an unknown name
        return self.projection_stores[name]

    @staticmethod
    def breakdown_of(name: str) -> Breakdown | None:
        """What parity counts per category for a projection (order-search: statuses)."""
        return status_counts if name == NAME else None

    def schema_upgrade(self, name: str) -> SchemaUpgrade:
        """What a projector runs when its serving generation has another schema version."""
        return SchemaUpgrade(
            self.event_store,
            self.archive,
            self.generations_of(name),
            self.projection_personal,
            PROJECTIONS[name],
            self.breakdown_of(name),
            RebuildOptions(
                workers=self.settings.rebuild_workers, open_worker=self.rebuild_workers(name)
            ),
        )

    def rebuild_workers(self, name: str) -> WorkerOpener:
        """How a partitioned rebuild's worker process opens its own engines (picklable)."""
        self.generations_of(name)  # the KeyError for an unknown name, here
        return partial(rebuild_worker, self.settings, name)

    @cached_property
    def projection_freshness(self) -> dict[str, Freshness]:
        """Each projection's own freshness (a page reads the one that answers it)."""
        found = {NAME: self.freshness}
        for name, store in self.projection_stores.items():
            found[name] = Freshness(self.event_store, store, name)
        return found

    def projectors(self, names: list[str] | None = None) -> list[Projector]:
        """One projector per projection (every one when ``names`` is None)."""
        chosen = list(PROJECTIONS) if names is None else names
        unknown = sorted(set(chosen) - set(PROJECTIONS))
        if unknown:
            raise KeyError(f"no projection {', '.join(unknown)} (known: {', '.join(PROJECTIONS)})")
        found = []
        for name in chosen:
            if name == NAME:
                found.append(self.projector())
                continue
            found.append(
                Projector(
                    self.event_store,
                    self.projection_stores[name],
                    self.projection_personal,
                    self._projector_options(),
                    generations=self.projection_generations[name],
                    projection=PROJECTIONS[name],
                    upgrade=self.schema_upgrade(name),
                    lease=self._lease(name, self.projection_generations[name]),
                )
            )
        return found

    def _lease(self, name: str, beside: object) -> Lease | None:
        store = leases_beside(beside) if self.failover else None
        if store is None:
            return None
        return Lease(
            store,
            name,
            ttl_s=self.settings.projection_lease_ttl_ms / 1000,
            renew_s=self.settings.projection_lease_renew_ms / 1000,
        )

    def _projector_options(self) -> ProjectorOptions:
        return ProjectorOptions(
            batch_size=self.settings.projection_batch_size,
            flush_interval_s=self.settings.projection_flush_ms / 1000,
            tracing=self.tracing,
        )

    def projector(self) -> Projector:
        """The order-search projector, following the active generation."""
        options = self._projector_options()
        # The projector resolves the active generation itself, and retries while the
        # engine is unreachable; the process starts either way.
        return Projector(
            self.event_store,
            self.search_index,
            self.projection_personal,
            options,
            generations=self.read_model,
            projection=PROJECTIONS[NAME],
            upgrade=self.schema_upgrade(NAME),
            lease=self._lease(NAME, self.read_model),
        )

    def readiness(self, *, search: bool, write: bool) -> dict[str, ReadinessCheck]:
        """What this process needs, per engine and direction: the search API never writes."""
        checks: dict[str, ReadinessCheck] = {"event_store": self.event_store.ping}
        if write:
            checks["event_store_writes"] = self.event_store.check_writable
        if search:
            checks["read_model"] = lambda: self.search_index.ping()
        return checks

    def watchdogs(self) -> dict[str, Watchdog]:
        limit_s = self.settings.request_timeout_ms / 1000

        def event_store() -> str | None:
            stuck = self.event_store.stuck_for()
            return f"stuck in one operation for {stuck:.0f} s" if stuck > limit_s else None

        return {"event_store": event_store}

    def refresh_lag_metrics(self) -> None:
        """Update the projection-lag gauges (called before each Prometheus scrape)."""
        try:
            projection_status(self.event_store, self.search_index, name=NAME)
            for name, store in self.projection_stores.items():
                projection_status(self.event_store, store, name=name)
        except Exception:  # an engine is down: /readyz says so; the scrape still answers
            log.warning("could not measure projection lag", exc_info=True)

    def close(self) -> None:
        """Release engine connections."""
        self.event_store.close()
        if "read_model" in self.__dict__:
            self.read_model.close()
        if "projection_generations" in self.__dict__:
            for generations in self.projection_generations.values():
                generations.close()
        if "tracing" in self.__dict__:
            self.tracing.close()


@contextmanager
def rebuild_worker(settings: Settings, name: str) -> Iterator[WorkerGraph]:
    """The composition root of a partitioned rebuild's worker process: its own engines,
    from the rebuilding process's settings, closed when its share is folded."""
    container = bootstrap(settings)
    try:
        yield WorkerGraph(
            container.event_store,
            container.archive,
            container.generations_of(name),
            container.projection_personal,
        )
    finally:
        container.close()


def open_event_store(settings: Settings) -> EventStore:
    url = settings.event_store_url
    if urlsplit(url).scheme == "sqlite":
        return SQLiteEventStore(sqlite_path(url), poll_interval_s=settings.sqlite_poll_ms / 1000)
    from order_service.eventstore.esdb import EventStoreDBEventStore

    return EventStoreDBEventStore(url)


def open_personal_data(
    settings: Settings, store: EventStore, *, ttl_s: float | None = None
) -> PersonalData:
    if not settings.encrypt_personal_data:
        return PersonalData(None)
    keks = [KeyEncryptionKey.from_text(key_encryption_key(settings))]
    for text in filter(None, settings.previous_key_encryption_keys.split(",")):
        keks.append(KeyEncryptionKey.from_text(text))
    ttl = settings.key_cache_s if ttl_s is None else max(ttl_s, settings.key_cache_s)
    return PersonalData(CustomerKeys(store, keks, ttl_s=ttl))


def open_projection_generations(settings: Settings) -> dict[str, Generational[ProjectionStore]]:
    """With Elasticsearch serving searches, an index family per projection in the same
    cluster (every search process and the projector share them); with SQLite,
    ``projections.db`` beside its read model: a file of their own, so their writes never
    wait for order-search's."""
    url = settings.read_model_url
    if urlsplit(url).scheme == "sqlite":
        path = sqlite_path(url).with_name("projections.db")
        return {
            name: SQLiteDocumentGenerations(path, PROJECTIONS[name], mapping)
            for name, mapping in SQLITE.items()
        }
    from projectors.read_models.elasticsearch_documents import ElasticsearchDocumentGenerations

    return {
        name: ElasticsearchDocumentGenerations(
            url,
            PROJECTIONS[name],
            mapping,
            prefix=settings.es_index_prefix,
            refresh_ms=settings.es_refresh_ms,
            replicas=settings.es_replicas,
            credentials=_credentials(settings),
        )
        for name, mapping in ELASTICSEARCH.items()
    }


def open_read_model(settings: Settings) -> ReadModel:
    url = settings.read_model_url
    version = PROJECTIONS[NAME].schema_version
    if urlsplit(url).scheme == "sqlite":
        from projectors.read_models.sqlite_read_model import SQLiteReadModel

        return SQLiteReadModel(sqlite_path(url), schema_version=version)
    from projectors.read_models.elasticsearch_read_model import ElasticsearchReadModel

    return ElasticsearchReadModel(
        url,
        schema_version=version,
        prefix=settings.es_index_prefix,
        refresh_ms=settings.es_refresh_ms,
        replicas=settings.es_replicas,
        credentials=_credentials(settings),
    )


def _credentials(settings: Settings) -> Credentials:
    from projectors.read_models.elasticsearch_index import Credentials

    return Credentials(
        username=settings.es_username,
        password=settings.es_password,
        api_key=settings.es_api_key,
        ca_file=settings.es_ca_file,
    )


def bootstrap(
    settings: Settings,
    *,
    event_store: EventStore | None = None,
    span_exporter: SpanExporter | None = None,
) -> Container:
    keep_private(settings.data_dir)
    return Container(
        settings=settings,
        event_store=event_store or open_event_store(settings),
        span_exporter=span_exporter,
    )
