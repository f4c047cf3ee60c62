"""Are two generations the same? As the projection declares its parity:

- ``documents``: counts (per status too, where the read model can count them), and a sample
  compared field by field;
- ``sums``: every sums row of both, compared at one and the same log position.

The rebuild prints this before it switches, and refuses to switch when the new generation
has fewer orders than the one serving or has dead letters (unless forced). Documents whose
versions differ are "in flight" (one generation is a few events ahead), not differences.

Both generations are compared at the same point of the log, even while checkout keeps
placing orders: the serving generation is counted first, then the new one is brought up to
the log's head as it is after that count, then counted. Every order counted in the serving
generation was placed before that head, so the new generation must have it too; orders placed
meanwhile can only add to the new count, never make it look short.

Sums cannot be compared that way (a later event changes a row's value, not only adds rows):
the serving generation's sums are read with its checkpoint, unchanged between (a write moves
both together), the new generation is brought up to exactly that position, and then every
row must be equal.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from order_service.events import order_id_of
from order_service.eventstore.port import EventStore
from projectors.port import STATUSES, DocumentStore, OrderSearchIndex, ProjectionStore, SearchQuery

STABLE_READ_ATTEMPTS = 100
Breakdown = Callable[[Any], dict[str, int]]
"""Counts per category of one generation (order-search: orders per status)."""


class ParityError(RuntimeError):
    """The serving generation's sums could not be read at one position (it kept moving)."""


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
    kind: str = "documents"
    position: int | None = None
    """``sums``: the log position both generations were compared at."""
    rows: tuple[int, int] = (0, 0)
    """``sums``: the rows of each."""


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


def status_counts(index: OrderSearchIndex) -> dict[str, int]:
    """Orders per status (order-search's breakdown)."""
    return {status: index.search(_of(status)).total for status in STATUSES}


def compare(
    store: EventStore,
    serving: tuple[str, DocumentStore],
    candidate: tuple[str, DocumentStore],
    *,
    sample: int = 200,
    seed: int | None = None,
    catch_up: Callable[[], None] = lambda: None,
    breakdown: Breakdown | None = None,
) -> ParityReport:
    """``catch_up`` brings the candidate up to the log's head (as it is when called)."""
    (old_name, old), (new_name, new) = serving, candidate
    report = ParityReport(serving=old_name, candidate=new_name)
    old_total = old.count()
    old_by = breakdown(old) if breakdown else {}
    catch_up()
    report.totals = (old_total, new.count())
    new_by = breakdown(new) if breakdown else {}
    for category, count in old_by.items():
        report.by_status[category] = (count, new_by.get(category, 0))
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


def stable_sums(index: ProjectionStore) -> tuple[int | None, list[dict[str, Any]]]:
    """Every sums row and the checkpoint they are at: read between two equal checkpoints."""
    for _ in range(STABLE_READ_ATTEMPTS):
        before = index.checkpoint().position
        rows = index.sums(equal={})
        if index.checkpoint().position == before:
            return before, rows
    raise ParityError(f"{index.name}'s checkpoint moved during {STABLE_READ_ATTEMPTS} reads")


def compare_sums(
    serving: tuple[str, ProjectionStore],
    candidate: tuple[str, ProjectionStore],
    *,
    fields: Sequence[str],
    catch_up_to: Callable[[int | None], None],
) -> ParityReport:
    """``catch_up_to(position)`` brings the candidate up to exactly that log position."""
    (old_name, old), (new_name, new) = serving, candidate
    report = ParityReport(serving=old_name, candidate=new_name, kind="sums")
    position, old_rows = stable_sums(old)
    report.position = position
    ahead = new.checkpoint().position
    if ahead is not None and (position is None or ahead > position):
        report.problems.append(
            f"{new_name} is past {old_name}'s position ({ahead} > {position}):"
            " the sums cannot be compared at one position"
        )
        return report
    catch_up_to(position)
    new_rows = new.sums(equal={})
    report.rows = (len(old_rows), len(new_rows))
    report.totals = (old.count(), new.count())
    report.dead_letters = new.dead_letter_count()
    before, after = _by_key(old_rows, fields), _by_key(new_rows, fields)
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key, {}), after.get(key, {})
        differing = [name for name in fields if a.get(name, 0) != b.get(name, 0)]
        report.sampled += 1
        if differing:
            report.differences[key] = differing
        else:
            report.identical += 1
    if report.differences:
        report.problems.append(
            f"{len(report.differences):,} of {report.sampled:,} sums rows differ at position"
            f" {position}"
        )
    if report.dead_letters:
        report.problems.append(f"{new_name} has {report.dead_letters:,} dead letters")
    return report


def _by_key(rows: list[dict[str, Any]], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {
        "/".join(str(value) for name, value in row.items() if name not in fields): row
        for row in rows
    }


def _of(status: str) -> SearchQuery:
    return SearchQuery(statuses=(status,), limit=1)
