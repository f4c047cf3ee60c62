"""What operators see: progress with rate and ETA, readable logs, on standard error; tables on
standard output.

On a terminal, progress is a live bar per phase; in a pipe or a file (a cron job, ``| tee``),
it is plain lines, one per phase every few seconds and a last one when the phase ends, and
tables are as wide as their cells (a pipe has no width to cut them to).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from order_service.bootstrap import Container, bootstrap
from order_service.logs import QUIET_LIBRARIES
from order_service.progress import Report, Tick
from order_service.settings import Settings, sqlite_path

PIPE_WIDTH = 10_000
"""Columns of a console that is not a terminal: wide enough that nothing is cut or wrapped."""
PLAIN_EVERY_S = 5.0
"""How often a phase prints a plain progress line when standard error is not a terminal."""


def _console(*, stderr: bool) -> Console:
    """A console on standard output or error; off a terminal, as wide as its lines."""
    terminal = (sys.stderr if stderr else sys.stdout).isatty()
    width = None if terminal else PIPE_WIDTH
    return Console(stderr=stderr, width=width, soft_wrap=not terminal)


console = _console(stderr=True)
"""Progress, decisions and diagnostics: standard error."""
answers = _console(stderr=False)
"""Tables and other answers a command exists to print: standard output."""


def table(*headers: str, title: str | None = None, **options: Any) -> Table:
    """A table whose cells fold onto more lines rather than lose characters, on a narrow
    terminal as in a pipe: an id or a timestamp is never shown cut."""
    made = Table(title=title, **options)
    for header in headers:
        made.add_column(header, overflow="fold")
    return made


_verbose = False


def set_verbose(verbose: bool) -> None:
    """``orders --verbose``: the engine clients' own request logs too."""
    global _verbose
    _verbose = verbose


def operator_logging() -> None:
    """Timestamped log lines an operator (and a log collector) can read; the engine clients
    speak only of warnings, unless ``--verbose``."""
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:  # one plain line per record: a pipe or a file has no width to lay it out in
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO if _verbose else logging.WARNING)


class NoEventStoreError(Exception):
    """An operator command found no event store where the settings point."""


@contextmanager
def operator_session(*, create: bool = False) -> Iterator[Container]:
    """The object graph an operator command works with (ORDERS_* as always), closed after.

    Refuses (exit 2) when the SQLite event store does not exist, unless the command creates
    one (``seed``): run from the wrong directory, a command would otherwise create an empty
    store and report that all is well.
    """
    operator_logging()
    settings = Settings()
    url = settings.event_store_url
    if not create and urlsplit(url).scheme == "sqlite" and not sqlite_path(url).exists():
        raise NoEventStoreError(
            f"no event store at {sqlite_path(url)}: run from the directory that holds "
            "./var, or set ORDERS_DATA_DIR or ORDERS_EVENT_STORE"
        )
    container = bootstrap(settings)
    try:
        yield container
    finally:
        container.close()


@contextmanager
def progress_bars(stream: Console | None = None) -> Iterator[Report]:
    """A ``Report`` that shows each phase: done, rate in events/s, ETA, elapsed. A live bar on a
    terminal, plain lines otherwise; when the work ends without an error, each phase whose
    total was known is shown complete (totals are estimates taken at the start)."""
    out = stream or console
    if out.is_terminal:
        with _bars(out) as report:
            yield report
    else:
        with _plain_lines(out) as report:
            yield report


@contextmanager
def _bars(out: Console) -> Iterator[Report]:
    columns = (
        TextColumn("{task.description:<26}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>16}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as bars:
        phases: dict[str, _Phase] = {}
        clock = _Clock()

        def report(tick: Tick) -> None:
            if tick.phase not in phases:
                task = bars.add_task(tick.phase, total=tick.total, rate="")
                phases[tick.phase] = _Phase(tick, clock.last, task)
            clock.tick()
            phase = phases[tick.phase]
            phase.last = tick
            bars.update(phase.task, completed=tick.done, total=tick.total, rate=phase.rate())

        yield report
        for phase in phases.values():
            total = phase.last.total
            bars.update(phase.task, completed=total if total else phase.last.done, total=total)


@contextmanager
def _plain_lines(out: Console) -> Iterator[Report]:
    phases: dict[str, _Phase] = {}
    clock = _Clock()

    def report(tick: Tick) -> None:
        if tick.phase not in phases:
            phases[tick.phase] = _Phase(tick, clock.last)
        clock.tick()
        phase = phases[tick.phase]
        phase.last = tick
        now = time.monotonic()
        if now - phase.printed >= PLAIN_EVERY_S:
            phase.printed = now
            out.print(phase.line(), highlight=False)

    yield report
    for phase in phases.values():
        out.print(phase.line(finished=True), highlight=False)


class _Clock:
    """When the last report came: a phase began when the one before it last reported (or
    when the work began), not at its own first report, which may be its last."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def tick(self) -> None:
        self.last = time.monotonic()


class _Phase:
    def __init__(self, first: Tick, started: float, task: TaskID | None = None) -> None:
        self.task = task if task is not None else TaskID(0)
        self.started = started
        self.printed = time.monotonic()
        self.last = first

    def rate(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.last.events / elapsed:,.0f} events/s" if elapsed > 0.5 else ""

    def line(self, *, finished: bool = False) -> str:
        tick, elapsed = self.last, time.monotonic() - self.started
        done = tick.total if finished and tick.total else tick.done
        if tick.total:
            amount = f"{done:,}/{tick.total:,} ({100 * done / tick.total:.0f}%)"
        else:
            amount = f"{done:,}"
        rate = self.rate()
        state = "done" if finished else "..."
        return f"{tick.phase}: {amount}{', ' + rate if rate else ''}, {elapsed:.0f}s {state}"
