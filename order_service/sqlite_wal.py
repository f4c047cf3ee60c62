"""Keeping a SQLite file's write-ahead log near a size limit while readers never stop reading.

SQLite's automatic checkpoint is passive: it copies the log into the file as far as it can,
but the log only starts over once no reader still reads from it. With readers always at work
(the projector on the event store, the search API on the read model) that moment never
comes, and the log grows by megabytes a second: the read model's grew from 93 to 551 MB in
20 s of 8 writers and 4 searching agents, and every read looks pages up in that longer log.
A checkpointer on another thread starves behind the writer, so the writer itself makes the
moment, between its transactions: a TRUNCATE checkpoint (tens of milliseconds, once per
``limit`` written) that waits briefly for readers to move off the log.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

WAL_SIZE_LIMIT = 64 * 1024 * 1024
CHECK_INTERVAL_S = 0.1
TRUNCATE_WAIT_MS = 500


class WalBound:
    """Starts ``database``'s write-ahead log over once it passes ``limit`` bytes (checked at
    most every 0.1 s). Call ``keep`` on the writing connection, outside a transaction."""

    def __init__(
        self,
        database: Path,
        limit: int = WAL_SIZE_LIMIT,
        on_truncated: Callable[[], None] = lambda: None,
    ) -> None:
        self._wal = Path(f"{database}-wal")
        self.limit = limit
        self._on_truncated = on_truncated
        self._checked = 0.0

    def keep(self, connection: sqlite3.Connection) -> None:
        now = time.monotonic()
        if now - self._checked < CHECK_INTERVAL_S:
            return
        self._checked = now
        try:
            if self._wal.stat().st_size <= self.limit:
                return
            (waited,) = connection.execute("PRAGMA busy_timeout").fetchone()
            connection.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
            try:
                (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                connection.execute(f"PRAGMA busy_timeout={waited}")
        except FileNotFoundError:  # no log yet, or another connection just removed it
            return
        except (sqlite3.Error, OSError) as error:  # the next call tries again
            log.warning("WAL truncation failed: %s", error)
            return
        if not busy:  # busy: a reader stayed on the log; the next call tries again
            self._on_truncated()
