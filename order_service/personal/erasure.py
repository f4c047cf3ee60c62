"""Erase a customer's personal data everywhere it was copied, without rewriting the log.

1. Find the customer's orders (the read model, once it has caught up with the log).
2. Delete the customer's keys: every sealed copy (events, snapshots, archive files,
   read-model snapshot files) becomes unreadable at once, on every backend.
3. Append ``OrderPersonalDataErased`` to each order, recording who erased it and when; every
   reader of the log (folds, history, projections, rebuilds) shows ``[erased]`` from then
   on, even for events written in plain text before encryption.
4. Drop the orders' snapshots, re-project the orders into every read-model generation and
   make the engines drop the overwritten versions from their files.

What it cannot reach is reported, and the command fails: events written before encryption
still hold the values in plain text (migrate them: ``orders customer encrypt-log``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from order_service.application import OrderCommands
from order_service.archive.cold import ColdArchive
from order_service.events import Causation, order_stream, snapshot_stream
from order_service.eventstore.port import EventStore, RecordedEvent
from order_service.personal import fields
from order_service.personal.codec import PersonalData
from order_service.personal.keys import CustomerKeys
from projectors.order_search import fold
from projectors.port import Changes, ReadModel, SearchQuery
from projectors.rebuilds.full_log import full_stream
from projectors.status import unprojected

CATCH_UP_S = 30.0
LATECOMER_PASSES = 5
log = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    customer_id: str
    dry_run: bool
    orders: list[str] = field(default_factory=list)
    keys_deleted: int = 0
    erasure_records: int = 0
    snapshots_dropped: int = 0
    archived_events: int = 0
    """The orders' events in cold storage: sealed ones are unreadable now."""
    generations: dict[str, int] = field(default_factory=dict)
    """Documents re-projected as erased, per read-model generation."""
    compaction: str = "not run"
    """``done``, or ``started`` (in the background: the HTTP endpoint does not wait for it)."""
    unreachable: dict[str, str] = field(default_factory=dict)
    """Copies erasure could not reach, and why (the command then fails)."""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Erasure:
    store: EventStore
    keys: CustomerKeys | None
    personal: PersonalData
    commands: OrderCommands
    read_model: ReadModel
    archive: ColdArchive
    progress: Callable[[str], None] = lambda _: None

    async def erase(
        self,
        customer_id: str,
        causation: Causation,
        *,
        dry_run: bool = False,
        wait_for_compaction: bool = True,
    ) -> ErasureReport:
        started = time.monotonic()
        report = ErasureReport(customer_id, dry_run)
        self.progress("waiting for the read model to catch up with the log")
        head = self.store.head_position()
        caught_up = await asyncio.to_thread(self._caught_up, head)
        if not caught_up:
            report.unreachable["read model"] = (
                f"still behind log position {head} after {CATCH_UP_S:.0f} s: orders placed "
                "since may be missed; run the erasure again once the projection is live"
            )
        report.orders = await asyncio.to_thread(self._orders_of, customer_id)
        streams = {
            order_id: await asyncio.to_thread(
                full_stream, self.store, self.archive, order_stream(order_id)
            )
            for order_id in report.orders
        }
        report.archived_events = sum(len(self.archive.events_of(order_stream(o))) for o in streams)
        for order_id, events in streams.items():
            if any(_plain(event) for event in events):
                report.unreachable[f"order {order_id}"] = (
                    "events written before encryption hold the values in plain text (hidden "
                    "from every reader now; migrate with `orders customer encrypt-log`)"
                )
        if dry_run:
            report.seconds = time.monotonic() - started
            return report
        self.progress("deleting the customer's keys")
        if self.keys is None:
            report.unreachable["event store"] = (
                "ORDERS_ENCRYPT_PERSONAL_DATA is off: events hold the values in plain text"
            )
        else:
            report.keys_deleted = await asyncio.to_thread(self.keys.erase, customer_id)
        await self._erase_orders(report, report.orders, causation)
        await self._erase_latecomers(report, causation)
        self.progress("removing overwritten documents from the read model's files")
        if wait_for_compaction:
            try:
                await asyncio.to_thread(self._expunge)
                report.compaction = "done"
            except Exception as error:  # reported: the command then fails, and can be rerun
                report.unreachable["read model files"] = f"could not be compacted: {error}"
        else:
            threading.Thread(target=self._expunge_logged, name="erasure-compaction").start()
            report.compaction = "started"
        report.seconds = time.monotonic() - started
        return report

    async def _erase_orders(
        self, report: ErasureReport, orders: list[str], causation: Causation
    ) -> None:
        self.personal.forget(report.customer_id)
        self.progress(f"recording the erasure on {len(orders)} orders")
        for order_id in orders:
            result = await self.commands.erase_personal_data(order_id, causation)
            report.erasure_records += result.erased
        report.snapshots_dropped += await asyncio.to_thread(self._drop_snapshots, orders)
        self.progress("re-projecting the orders in every read-model generation")
        for generation, count in (await asyncio.to_thread(self._reproject, orders)).items():
            report.generations[generation] = report.generations.get(generation, 0) + count

    async def _erase_latecomers(self, report: ErasureReport, causation: Causation) -> None:
        """Orders placed while the erasure ran escape the first search: sealed with the key
        just deleted (by this process, or by another that still had it cached, up to its key
        cache time), or with a key made since. Once every process has forgotten the deleted
        key, find the customer's orders again and erase the new ones too (their keys
        deleted again), until a search finds none: every order ends erased or readable."""
        handled = set(report.orders)
        ttl = self.keys.ttl_s if self.keys is not None else 0.0
        deleted_at = time.monotonic()
        for _ in range(LATECOMER_PASSES):
            wait = deleted_at + ttl - time.monotonic()
            if wait > 0:
                self.progress(f"waiting {wait:.1f} s for every process to forget the key")
                await asyncio.sleep(wait)
            head = self.store.head_position()
            await asyncio.to_thread(self._caught_up, head)
            found = await asyncio.to_thread(self._orders_of, report.customer_id)
            late = [order_id for order_id in found if order_id not in handled]
            if not late:
                return
            if self.keys is not None:
                report.keys_deleted += await asyncio.to_thread(self.keys.erase, report.customer_id)
            deleted_at = time.monotonic()
            await self._erase_orders(report, late, causation)
            handled.update(late)
            report.orders.extend(late)
        report.unreachable["orders placed meanwhile"] = (
            f"orders were still being placed after {LATECOMER_PASSES} searches; erase again"
        )

    def _caught_up(self, head: int | None) -> bool:
        if head is None:
            return True
        index = self.read_model.open(self.read_model.active())
        deadline = time.monotonic() + CATCH_UP_S
        while True:
            waiting = unprojected(self.store, index.checkpoint().position, 1)
            if not waiting or waiting[0].position > head:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _orders_of(self, customer_id: str) -> list[str]:
        index = self.read_model.open(self.read_model.active())
        found: list[str] = []
        after = None
        while True:
            page = index.search(
                SearchQuery(customer_id=customer_id, sort="placed_at", limit=100, after=after)
            )
            found.extend(hit["order_id"] for hit in page.hits)
            if len(page.hits) < 100:
                return found
            last = page.hits[-1]
            after = (last["placed_at"], last["order_id"])

    def _drop_snapshots(self, orders: list[str]) -> int:
        dropped = {}
        for order_id in orders:
            latest = self.store.read_stream(snapshot_stream(order_id), backwards=True, limit=1)
            if latest:
                dropped[snapshot_stream(order_id)] = latest[0].revision + 1
        if dropped:
            self.store.truncate(dropped)
        return len(dropped)

    def _reproject(self, orders: list[str]) -> dict[str, int]:
        documents = {}
        for order_id in orders:
            events = full_stream(self.store, self.archive, order_stream(order_id))
            document = fold(events, self.personal)
            if document is not None:
                documents[order_id] = document
        written = {}
        for generation in self.read_model.generations():
            index = self.read_model.open(generation.name)
            present = index.documents(list(documents))
            changes = Changes(documents={o: documents[o] for o in present})
            if changes.documents:
                index.write(changes)
            written[generation.name] = len(changes.documents)
        return written

    def _expunge(self) -> None:
        for generation in self.read_model.generations():
            self.read_model.open(generation.name).expunge()

    def _expunge_logged(self) -> None:
        try:
            self._expunge()
            log.info("erasure: the read model's files are compacted")
        except Exception:  # nobody waits for this thread: its failure must reach the log
            log.exception("erasure: compacting the read model's files failed; erase again")


def _plain(event: RecordedEvent) -> bool:
    """An event with personal values written before encryption."""
    paths = fields.EVENT_PATHS.get(event.type)
    if not paths:
        return False
    data = orjson.loads(event.data)
    if not isinstance(data, dict) or fields.ENVELOPE in data:
        return False
    values = fields.take(data, paths)
    return any(value not in ("", fields.ERASED) for value in values.values())
