"""Seals personal values when events are written and opens them when they are read.

Writers seal with the customer's current key; an event's ``personal`` field then holds
``{subject, kid, sealed}`` and the personal values are gone from the rest of its data.
Readers open it with the key named there, or, once that key has been erased, read every
personal value as ``[erased]``. Events written before encryption (no ``personal`` field)
are read as they are; an ``OrderPersonalDataErased`` event in their stream is what hides
them (see the domain and the projection).

Readers on the event loop ``prepare`` (fetch the keys a list of events needs, concurrently)
before opening; others let ``open`` fetch a missing key itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from order_service.domain.order import Order
from order_service.eventstore.port import RecordedEvent
from order_service.personal import cipher, fields
from order_service.personal.keys import CustomerKey, CustomerKeys, KeyStoreError

ERASURE = "OrderPersonalDataErased"


@dataclass(frozen=True)
class Sealer:
    """Seals with one customer's key (what a command writing that customer's events holds)."""

    key: CustomerKey

    def seal(self, data: dict[str, Any], paths: tuple[fields.Path, ...], context: str) -> None:
        values = fields.take(data, paths)
        if values:
            data[fields.ENVELOPE] = {
                "subject": self.key.customer_id,
                "kid": self.key.kid,
                "sealed": cipher.seal(self.key.cipher, values, context),
            }

    def seal_digest(self, digest: str, context: str) -> dict[str, str]:
        """A digest of personal values (a keyed request's hash), sealed like them: once the
        key is erased, nobody can compare a guess's digest with it."""
        return {
            "subject": self.key.customer_id,
            "kid": self.key.kid,
            "sealed": cipher.seal(self.key.cipher, {"digest": digest}, context),
        }


class PersonalData:
    """``keys=None``: nothing is sealed, and a sealed value cannot be opened (it raises)."""

    def __init__(self, keys: CustomerKeys | None) -> None:
        self.keys = keys

    @property
    def encrypts(self) -> bool:
        return self.keys is not None

    async def sealer(
        self, customer_id: str, metadata: bytes, *, after_revision: int | None = None
    ) -> Sealer | None:
        """The customer's key for sealing; a new one comes with the record to append first."""
        if self.keys is None:
            return None
        key = await self.keys.for_writing(customer_id, metadata, after_revision=after_revision)
        return Sealer(key)

    def stored(self, sealer: Sealer, revision: int) -> Sealer:
        """The sealer once its new key's record is appended (at ``revision``)."""
        if self.keys is not None:
            self.keys.stored(sealer.key, revision)
        return Sealer(replace(sealer.key, record=None))

    def existing_sealer(self, order: Order) -> Sealer | None:
        """The order's customer's key if they have one (never makes one): for tools that
        rewrite state in bulk, where a customer without a key has only plain old events."""
        if self.keys is None:
            return None
        key = self.keys.current(order.customer.id)
        return Sealer(key) if key is not None else None

    def open(self, data: dict[str, Any], paths: tuple[fields.Path, ...], context: str) -> None:
        """Put the sealed values back into ``data``, or ``[erased]`` if their key is gone."""
        envelope = data.pop(fields.ENVELOPE, None)
        if envelope is None:
            return
        if self.keys is None:
            raise KeyStoreError(f"{context} holds sealed personal data and no key store is set")
        key = self.keys.cipher(envelope["subject"], envelope["kid"])
        if key is None:  # erased: every personal value reads so, present or not (a None,
            # never sealed, stays: there was no value)
            for path in paths:
                parent = fields.parent_of(data, path)
                if isinstance(parent, dict) and parent.get(path[-1], fields.ERASED) is not None:
                    parent[path[-1]] = fields.ERASED
            return
        fields.put(data, cipher.unseal(key, envelope["sealed"], context))

    async def open_digest(self, sealed: dict[str, Any], context: str) -> str | None:
        """What ``Sealer.seal_digest`` sealed; None when its key is gone (erased) or the
        value does not open with it."""
        subject, kid = sealed.get("subject"), sealed.get("kid")
        if self.keys is None or not isinstance(subject, str) or not isinstance(kid, str):
            return None
        await self.keys.load_async([subject])
        key = self.keys.cipher(subject, kid)
        if key is None:
            return None
        try:
            digest = cipher.unseal(key, str(sealed.get("sealed")), context).get("digest")
        except cipher.SealError:
            return None
        return digest if isinstance(digest, str) else None

    def seal_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """A read-model document with its personal values sealed by its customer's key (for
        files that leave the engine: read-model snapshots), so an erasure reaches them too.
        Documents already erased, or of customers with no key (plain old events), as they are."""
        customer = (document.get("customer") or {}).get("id")
        if self.keys is None or not customer or document.get("personal_data_erased"):
            return document
        key = self.keys.current(customer)
        if key is None:
            return document
        sealed: dict[str, Any] = orjson.loads(orjson.dumps(document))  # nested copies
        context = f"document/{document.get('order_id')}"
        Sealer(key).seal(sealed, fields.document_paths(sealed), context)
        return sealed

    def open_document(self, document: dict[str, Any]) -> dict[str, Any]:
        context = f"document/{document.get('order_id')}"
        self.open(document, fields.document_paths(document), context)
        return document

    def readable(self, event: RecordedEvent, *, erased: bool) -> Any:
        """An event's data as people may see it: personal values opened, or ``[erased]``
        (always, when ``erased``: its order's customer was erased, plain old events too)."""
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return {"undecodable": event.data.decode("utf-8", "replace")}
        paths = fields.EVENT_PATHS.get(event.type)
        if not isinstance(data, dict) or not paths:
            return data
        try:
            self.open(data, paths, f"{event.stream}/{event.type}")
        except cipher.SealError:
            data[fields.ENVELOPE] = "unreadable"
        if erased:
            fields.erase(data, paths)
        return data

    def prepare(self, events: Iterable[RecordedEvent]) -> None:
        if self.keys is not None:
            self.keys.load(self._subjects(events))

    async def prepare_async(self, events: Iterable[RecordedEvent]) -> None:
        if self.keys is not None:
            await self.keys.load_async(self._subjects(events))

    def _subjects(self, events: Iterable[RecordedEvent]) -> set[str]:
        """The customers whose keys these events need; an erasure among them drops the
        erased customer's cached key first, so nothing after it opens with that key."""
        found: set[str] = set()
        for event in events:
            if event.type == ERASURE:
                self.forget(str(orjson.loads(event.data).get("customer_id")))
            elif (subject := _subject(event.data)) is not None:
                found.add(subject)
        return found

    def forget(self, customer_id: str) -> None:
        if self.keys is not None:
            self.keys.forget(customer_id)


def _subject(data: bytes) -> str | None:
    """The customer whose key an event's sealed values need. Our writers put the envelope
    last, so its own bytes are parsed, not the whole event's; anything else, the whole."""
    at = data.rfind(ENVELOPE_START)
    if at < 0:
        return None
    try:
        envelope = orjson.loads(data[at + len(ENVELOPE_START) - 1 : -1])
    except orjson.JSONDecodeError:
        envelope = orjson.loads(data).get(fields.ENVELOPE)
    subject = envelope.get("subject") if isinstance(envelope, dict) else None
    return subject if isinstance(subject, str) else None


ENVELOPE_START = b'"personal":{'
PLAIN = PersonalData(None)
"""For logs written without encryption (tests of other concerns, tools that never see keys)."""
