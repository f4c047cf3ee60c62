"""The operator commands as operators run them: help, dry runs that write nothing, exit codes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from order_service.archive.cold import ColdArchive
from order_service.bootstrap import bootstrap
from order_service.cli import main
from order_service.eventstore.sqlite import SQLiteEventStore
from order_service.settings import Settings
from tests.engines import ROOT
from tests.operations.conftest import seed
from tests.servers import orders_cli

SCRIPTS = ["archive.py", "rebuild.py", "restore.py", "projection.py", "snapshot.py", "seed.py"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORDERS_DATA_DIR", str(tmp_path))
    store = SQLiteEventStore(tmp_path / "events.db")
    seed(store, 150)
    store.close()
    return tmp_path


def generations(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["projection", "generations", "--json"]) == 0
    found: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return found


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_operator_script_explains_itself(script: str) -> None:
    shown = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0
    assert "usage:" in shown.stdout


def test_dry_runs_write_nothing(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = generations(capsys)
    assert main(["archive", "run", "--before", "2030-01-01", "--dry-run"]) == 0
    assert main(["projection", "rebuild", "--dry-run"]) == 0
    assert main(["projection", "export", "--out", str(data_dir / "rm.jsonl.gz"), "--dry-run"]) == 0
    assert main(["archive", "restore", "--all", "--dry-run"]) == 0

    assert ColdArchive(data_dir / "archive").files() == []
    assert not (data_dir / "rm.jsonl.gz").exists()
    assert generations(capsys) == listed


def test_the_exit_status_tells_success_from_failure(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["projection", "rollback"]) == 1  # nothing to roll back to
    assert main(["projection", "drop", "g1"]) == 1  # serves searches
    assert main(["projection", "drop", "g7"]) == 1  # does not exist
    assert main(["archive", "restore"]) == 2  # neither orders nor --all
    assert main(["projection", "rebuild", "--from-snapshot", str(data_dir / "none.gz")]) == 2
    with pytest.raises(SystemExit) as bad_date:
        main(["archive", "run", "--before", "last tuesday"])
    assert bad_date.value.code == 2

    assert main(["projection", "rebuild"]) == 0
    assert [(g["name"], g["state"]) for g in generations(capsys)] == [
        ("g1", "standby"),
        ("g2", "active"),
    ]
    assert main(["archive", "run", "--before", "2030-01-01"]) == 0
    assert main(["archive", "verify"]) == 0
    assert main(["projection", "export", "--out", str(data_dir / "rm.jsonl.gz")]) == 0
    assert main(["projection", "rebuild", "--from-snapshot", str(data_dir / "rm.jsonl.gz")]) == 0
    assert main(["projection", "rollback"]) == 0
    assert [(g["name"], g["state"]) for g in generations(capsys)] == [
        ("g1", "standby"),
        ("g2", "active"),
        ("g3", "standby"),
    ]
    assert main(["projection", "drop", "g3"]) == 0
    assert main(["archive", "restore", "--all"]) == 0

    archive = ColdArchive(data_dir / "archive")
    victim = archive.directory / archive.files()[0]["name"]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    assert main(["archive", "verify"]) == 1


def test_archiving_waits_for_an_unfinished_rebuild(data_dir: Path) -> None:
    container = bootstrap(Settings())
    unfinished = container.read_model.create()
    container.close()

    assert main(["archive", "run", "--before", "2030-01-01"]) == 1
    assert ColdArchive(data_dir / "archive").files() == []
    assert main(["projection", "drop", unfinished]) == 0
    assert main(["archive", "run", "--before", "2030-01-01"]) == 0


def test_archive_runs_and_rebuilds_never_overlap(data_dir: Path) -> None:
    archive = ColdArchive(data_dir / "archive")
    assert main(["archive", "run", "--before", "2025-06-01"]) == 0

    with archive.running():  # another archive run, as far as the lock can tell
        assert archive.busy()
        assert main(["archive", "run", "--before", "2030-01-01"]) == 1
        assert main(["projection", "rebuild"]) == 1
    assert not archive.busy()
    assert main(["projection", "rebuild"]) == 0


def test_a_cut_short_snapshot_stops_the_rebuild_with_a_message(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = data_dir / "rm.jsonl.gz"
    assert main(["projection", "rebuild"]) == 0
    assert main(["projection", "export", "--out", str(path)]) == 0
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-1])))
    capsys.readouterr()

    assert main(["projection", "rebuild", "--from-snapshot", str(path)]) == 1

    assert "cut short" in " ".join(capsys.readouterr().err.split())


def test_operator_commands_print_answers_not_the_engine_clients_request_log(
    elasticsearch_url: str, tmp_path: Path
) -> None:
    env = {
        "ORDERS_READ_MODEL": elasticsearch_url,
        "ORDERS_ES_INDEX_PREFIX": f"o{uuid.uuid4().hex[:10]}",
        "ORDERS_ES_REPLICAS": "0",
    }
    orders_cli(tmp_path, "seed", "--orders", "5", env=env, check=True)

    # The first command sets up every read model (order-search's and the other
    # projections' indices), as any process does; looking again must change nothing.
    orders_cli(tmp_path, "projection", "status", env=env)
    quiet = orders_cli(tmp_path, "projection", "generations", env=env)
    verbose = orders_cli(tmp_path, "--verbose", "projection", "generations", env=env)
    status = orders_cli(tmp_path, "--verbose", "projection", "status", env=env)

    assert quiet.returncode == 0, quiet.stderr
    assert "g1" in quiet.stdout  # the table is the answer: standard output
    assert "elastic_transport" not in quiet.stderr
    assert "elastic_transport" in verbose.stderr
    # Looking changes nothing: no index is created or re-mapped by a read-only command.
    for looked in (verbose, status):
        requests = [line for line in looked.stderr.splitlines() if "elastic_transport" in line]
        assert requests
        assert not [line for line in requests if " PUT " in line], requests
