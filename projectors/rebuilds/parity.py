"""Are two generations the same? Counts per status, and a sample compared field by field.

The rebuild prints this before it switches, and refuses to switch when the new generation
has fewer orders than the one serving or has dead letters (unless forced). Documents whose
versions differ are "in flight" (one generation is a few events ahead), not differences.

Both generations are compared at the same point of the log, even while checkout keeps
placing orders: the serving generation is counted first, then the new one is brought up to
the log's head as it is after that count, then counted. Every order counted in the serving
generation was placed before that head, so the new generation must have it too; orders placed
meanwhile can only add to the new count, never make it look short.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from order_service.events import order_id_of
from order_service.eventstore.port import EventStore
from projectors.port import STATUSES, OrderSearchIndex, SearchQuery


@dataclass
class ParityReport:
    serving: str
    candidate: str
    totals: tuple[int, int] = (0, 0)
    by_status: dict[str, tuple[int, int]] = field(default_factory=dict)
    dead_letters: int = 0
    sampled: int = 0
    identical: int = 0
    in_flight: int = 0
    differences: dict[str, list[str]] = field(default_factory=dict)
    """Sampled orders whose documents differ at the same version, with the fields."""
    problems: list[str] = field(default_factory=list)
    """Why the switch is refused (empty: it may go ahead)."""


def sample_order_ids(store: EventStore, size: int, rng: random.Random) -> list[str]:
    """Orders of events drawn at random from the hot log (archived orders keep their last event).

    One read of the order events, keeping a uniform sample of them (reservoir sampling): a
    read of the log may start only at a position the store gave out, since EventStoreDB
    refuses to read ``$all`` from a position between two records.
    """
    if size <= 0:
        return []
    drawn: list[str] = []
    seen = 0
    after: int | None = None
    while page := store.read_all(after=after, limit=1000, stream_prefix="order-"):
        for event in page:
            seen += 1
            if len(drawn) < size:
                drawn.append(event.stream)
            elif (slot := rng.randrange(seen)) < size:
                drawn[slot] = event.stream
        after = page[-1].position
    return list(dict.fromkeys(order_id_of(stream) for stream in drawn))


def compare(
    store: EventStore,
    serving: tuple[str, OrderSearchIndex],
    candidate: tuple[str, OrderSearchIndex],
    *,
    sample: int = 200,
    seed: int | None = None,
    catch_up: Callable[[], None] = lambda: None,
) -> ParityReport:
    """``catch_up`` brings the candidate up to the log's head (as it is when called)."""
    (old_name, old), (new_name, new) = serving, candidate
    report = ParityReport(serving=old_name, candidate=new_name)
    old_total = old.count()
    old_by_status = {status: old.search(_of(status)).total for status in STATUSES}
    catch_up()
    report.totals = (old_total, new.count())
    for status in STATUSES:
        report.by_status[status] = (old_by_status[status], new.search(_of(status)).total)
    report.dead_letters = new.dead_letter_count()
    ids = sample_order_ids(store, sample, random.Random(seed))
    before, after = old.documents(ids), new.documents(ids)
    for order_id in ids:
        a, b = before.get(order_id), after.get(order_id)
        report.sampled += 1
        if a is None or b is None or a.get("version") != b.get("version"):
            report.in_flight += int(b is not None)
            if b is None:
                report.differences[order_id] = ["missing from the new generation"]
            continue
        fields = sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))
        if fields:
            report.differences[order_id] = fields
        else:
            report.identical += 1
    if report.totals[1] < report.totals[0]:
        report.problems.append(
            f"{new_name} has fewer orders than {old_name} ({report.totals[1]:,} < "
            f"{report.totals[0]:,})"
        )
    if report.dead_letters:
        report.problems.append(f"{new_name} has {report.dead_letters:,} dead letters")
    return report


def _of(status: str) -> SearchQuery:
    return SearchQuery(statuses=(status,), limit=1)
