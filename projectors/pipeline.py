"""Projecting the next batch while the engine indexes the last one.

On two cores, Python folds events while Elasticsearch indexes: done one after the other,
each waits for the other (the live projector reached a third of the engine's bulk rate).
A ``BatchWriter`` writes batches in order on a thread of its own, so a checkpoint is still
written only after the documents it covers; ``Pending`` lets the next batch find the
documents of batches not written yet, which the engine cannot return.

Each batch is written in two steps, the read model's ``send`` and the call it returns,
which completes the write. The writer sends the next batch before completing the last, so
the engine is not idle while a batch is encoded and its answer read (with the engine on a
core of its own, this took the projector from 0.66-0.72 to 0.85-0.91 of the raw bulk rate
in a harness on a warm node).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Mapping

from projectors.order_search import Document
from projectors.port import Changes

QUEUE_DEPTH = 2
IN_FLIGHT = 2
UNWRITTEN = QUEUE_DEPTH + IN_FLIGHT
"""Batches handed to a writer and not yet written, at most."""

Send = Callable[[Changes, int], Callable[[], None]]
"""Starts writing a batch of so many events; the call returned completes the write."""
Sent = tuple[Changes, int, Callable[[], None] | None]
"""A batch being written, and what completes it (``None``: dropped after an error)."""


class BatchWriter:
    """Writes batches in order on one thread while the caller projects the next ones.

    At most ``QUEUE_DEPTH`` batches wait and ``IN_FLIGHT`` are being written; they complete
    in the order they came. An error stops the writing (later batches are dropped, so the
    checkpoint never passes a batch that was not written) and is raised to the caller at
    its next ``put`` or at ``close``; so does an error of ``on_written``.
    """

    def __init__(self, send: Send, on_written: Callable[[Changes, int], None]) -> None:
        self.send = send
        self.on_written = on_written
        self._queue: queue.Queue[tuple[Changes, int] | None] = queue.Queue(QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="projection-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sent: deque[Sent] = deque()
        closing = False
        while True:
            if not closing and len(sent) < IN_FLIGHT:
                try:  # waits only when nothing is being written
                    item = self._queue.get(block=not sent)
                except queue.Empty:
                    pass  # nothing more yet: complete what was sent
                else:
                    if item is None:
                        closing = True
                    else:
                        sent.append(self._send(*item))
                        continue
            if sent:
                self._complete(*sent.popleft())
            elif closing:
                return

    def _send(self, changes: Changes, events: int) -> Sent:
        if self._error is not None:
            return changes, events, None
        try:
            return changes, events, self.send(changes, events)
        except BaseException as error:  # handed to the projecting thread, which raises it
            self._error = error
            return changes, events, None

    def _complete(self, changes: Changes, events: int, finish: Callable[[], None] | None) -> None:
        try:
            if finish is None or self._error is not None:
                return
            try:
                finish()
                self.on_written(changes, events)
            except BaseException as error:  # handed to the projecting thread, which raises it
                self._error = error  # (escaping, it would end this thread: a put would hang)
        finally:
            self._queue.task_done()

    def idle(self) -> bool:
        """Nothing queued or being written: a small batch may go now. While the writer is
        busy, a live projector keeps gathering events, so under load its batches grow to
        what arrives during one write instead of queueing up behind it."""
        return self._queue.unfinished_tasks == 0

    def put(self, changes: Changes, events: int) -> None:
        """Queue a batch of ``events`` for writing (waits while ``QUEUE_DEPTH`` are queued)."""
        self._raise()
        self._queue.put((changes, events))

    def close(self) -> None:
        """Write what is queued, then stop; raises the first error."""
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


class Pending:
    """Documents of batches queued for writing, found before the engine is asked.

    Only until written: afterwards the engine is the truth again (an operator's re-projection
    of an order may have replaced what this projector wrote).
    """

    def __init__(self, lookup: Callable[[list[str]], Mapping[str, Document]]) -> None:
        self._lookup = lookup
        self._documents: dict[str, tuple[Document, Changes]] = {}
        self._lock = threading.Lock()

    def lookup(self, order_ids: list[str]) -> Mapping[str, Document]:
        with self._lock:
            found = {i: self._documents[i][0] for i in order_ids if i in self._documents}
        missing = [i for i in order_ids if i not in found]
        if missing:
            found.update(self._lookup(missing))
        return found

    def queued(self, changes: Changes) -> None:
        with self._lock:
            for order_id, document in changes.documents.items():
                self._documents[order_id] = (document, changes)

    def written(self, changes: Changes) -> None:
        """Forget the batch's documents, unless a later queued batch changed them again."""
        with self._lock:
            for order_id in changes.documents:
                entry = self._documents.get(order_id)
                if entry is not None and entry[1] is changes:
                    del self._documents[order_id]
