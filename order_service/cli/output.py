"""What operators see: progress bars with rate and ETA, readable logs, on standard error."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
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

from order_service.bootstrap import Container, bootstrap
from order_service.logs import QUIET_LIBRARIES
from order_service.progress import Report, Tick
from order_service.settings import Settings, sqlite_path

console = Console(stderr=True)
"""Progress, decisions and diagnostics: standard error."""
answers = Console()
"""Tables and other answers a command exists to print: standard output."""
_verbose = False


def set_verbose(verbose: bool) -> None:
    """``orders --verbose``: the engine clients' own request logs too."""
    global _verbose
    _verbose = verbose


def operator_logging() -> None:
    """Timestamped log lines an operator (and a log collector) can read; the engine clients
    speak only of warnings, unless ``--verbose``."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=console, show_path=False, log_time_format="%H:%M:%S")],
        force=True,
    )
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
def progress_bars() -> Iterator[Report]:
    """A ``Report`` that draws one bar per phase: done, rate in events/s, ETA, elapsed."""
    columns = (
        TextColumn("{task.description:<26}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>16}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bars:
        tasks: dict[str, tuple[TaskID, float, int]] = {}

        def report(tick: Tick) -> None:
            if tick.phase not in tasks:
                task = bars.add_task(tick.phase, total=tick.total, rate="")
                tasks[tick.phase] = (task, time.monotonic(), tick.events)
            task, started, first = tasks[tick.phase]
            elapsed = time.monotonic() - started
            rate = f"{(tick.events - first) / elapsed:,.0f} events/s" if elapsed > 0.5 else ""
            bars.update(task, completed=tick.done, total=tick.total, rate=rate)

        yield report
