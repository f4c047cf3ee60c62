"""Documents a rebuild wrote lately, so it does not read them back from the engine."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from order_service.eventstore.port import RecordedEvent
from order_service.personal.codec import PersonalData
from projectors.order_search import Document
from projectors.port import Changes, DocumentStore
from projectors.projection import Projection
from projectors.runner import changes_for


class DocumentCache:
    """The last ``limit`` documents written, found before the engine is asked."""

    def __init__(self, index: DocumentStore, limit: int) -> None:
        self.index = index
        self.limit = limit
        self._documents: OrderedDict[str, Document] = OrderedDict()

    def lookup(self, order_ids: list[str]) -> Mapping[str, Document]:
        found = {i: self._documents[i] for i in order_ids if i in self._documents}
        missing = [i for i in order_ids if i not in found]
        if missing:
            found.update(self.index.documents(missing))
        return found

    def remember(self, documents: Mapping[str, Document]) -> None:
        for order_id, document in documents.items():
            self._documents[order_id] = document
            self._documents.move_to_end(order_id)
        while len(self._documents) > self.limit:
            self._documents.popitem(last=False)

    def fold(
        self,
        batch: list[RecordedEvent],
        personal: PersonalData,
        projection: Projection,
        *,
        passed: int | None = None,
    ) -> Changes:
        """A batch's changes, folded over the documents written lately (and remembered for the
        next); ``passed``: the last event skipped after it, which the checkpoint moves past."""
        changes = (
            changes_for(batch, self.lookup, personal, searchable=False, projection=projection)
            if batch
            else Changes()
        )
        if passed is not None:
            changes.checkpoint = max(changes.checkpoint or passed, passed)
        self.remember(changes.documents)
        return changes
