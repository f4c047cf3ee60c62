"""What operators see in a terminal and in a pipe: progress that ends at 100 % (or plain lines
off a terminal), tables whose cells are never cut, and long phases that report progress."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from order_service.cli.output import progress_bars, table
from order_service.progress import Tick
from tests.servers import orders_cli

ESCAPE = re.compile(r"\x1b\[")
STYLE = re.compile(r"\x1b\[[0-9;]*m")
BORDERS = re.compile(r"[\s│┃┏┓┗┛┡┩└┘━─╇┳┻┼╋┯┷╂]")


def captured(*, terminal: bool, width: int = 100) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=width), out


def test_off_a_terminal_progress_is_plain_lines_that_end_complete() -> None:
    out_console, out = captured(terminal=False)

    with progress_bars(out_console) as report:
        report(Tick("archiving", 10, 1000, 10))
        report(Tick("archiving", 930, 1000, 930))  # the total was an estimate
        report(Tick("reading the log", 5000, None, 5000))

    lines = out.getvalue().splitlines()
    assert not ESCAPE.search(out.getvalue())
    assert lines[-2].startswith("archiving: 1,000/1,000 (100%)")
    assert lines[-2].endswith("done")
    assert lines[-1].startswith("reading the log: 5,000")
    assert lines[-1].endswith("done")


def test_on_a_terminal_the_bars_end_at_100_percent() -> None:
    out_console, out = captured(terminal=True)

    with progress_bars(out_console) as report:
        report(Tick("archiving", 870, 1000, 870))

    last_frame = out.getvalue().rsplit("\r", 1)[-1]
    assert "100%" in last_frame
    assert "87%" not in last_frame


def test_a_table_folds_a_long_cell_on_a_narrow_terminal_rather_than_cut_it() -> None:
    long_id = "key-" + "0123456789abcdef" * 4
    out_console, out = captured(terminal=True, width=24)
    shown = table("id")
    shown.add_row(long_id)

    out_console.print(shown)

    assert "…" not in out.getvalue()
    assert BORDERS.sub("", STYLE.sub("", out.getvalue())).removeprefix("id") == long_id


def test_in_a_pipe_tables_keep_every_character(tmp_path: Path) -> None:
    name = "the night shift's key for the returns desk, building 7, second floor"
    orders_cli(tmp_path, "keys", "create", "--role", "agent", "--name", name, "--yes", check=True)

    listed = orders_cli(tmp_path, "keys", "list", check=True)  # its output is a pipe here
    shown = listed.stdout + listed.stderr

    assert name in shown
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", shown)
    assert "…" not in shown


def test_snapshot_in_a_pipe_reports_both_of_its_phases(tmp_path: Path) -> None:
    orders_cli(tmp_path, "seed", "--orders", "200", check=True)

    done = orders_cli(tmp_path, "snapshot", "--min-events", "1", check=True)

    lines = done.stderr.splitlines()
    assert not ESCAPE.search(done.stderr)
    for phase in ("reading the log", "checking orders"):
        finished = [line for line in lines if line.startswith(f"{phase}:")][-1]
        assert "(100%)" in finished
        assert finished.endswith("done")
    assert any(line.startswith("snapshotted ") for line in lines)
