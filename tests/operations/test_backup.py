"""Backups of the embedded mode, made while a real writer places orders over HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.factories import TEST_KEY_ENCRYPTION_TEXT, TOTAL, new_order_id, pay_body, place_body
from tests.polling import eventually
from tests.servers import orders_cli, orders_process

WRITTEN_BEFORE_BACKUP = 40


@dataclass
class Writer:
    """Places and pays orders until stopped; remembers what the API acknowledged."""

    url: str
    histories: dict[str, list[str]] = field(default_factory=dict)
    acknowledged: threading.Condition = field(default_factory=threading.Condition)
    stopping: threading.Event = field(default_factory=threading.Event)
    during: int = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stopping.is_set():
                order_id = new_order_id()
                placed = client.post("/orders", json=place_body(order_id))
                assert placed.status_code == 201, placed.text
                self._record(order_id, "OrderPlaced")
                paid = client.post(f"/orders/{order_id}/pay", json=pay_body(TOTAL))
                assert paid.status_code == 200, paid.text
                self._record(order_id, "OrderPaid")

    def _record(self, order_id: str, event: str) -> None:
        with self.acknowledged:
            self.histories.setdefault(order_id, []).append(event)
            self.acknowledged.notify_all()

    def snapshot(self) -> dict[str, list[str]]:
        with self.acknowledged:
            return {order: list(events) for order, events in self.histories.items()}


@contextmanager
def writing(url: str) -> Iterator[Writer]:
    writer = Writer(url)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    try:
        yield writer
    finally:
        writer.stopping.set()
        thread.join(30)


def test_a_backup_made_under_writes_restores_every_acknowledged_order_whole(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {"ORDERS_DATA_DIR": str(data)}
    with orders_process(["up"], tmp_path, env) as server, writing(server.url) as writer:
        with writer.acknowledged:
            assert writer.acknowledged.wait_for(
                lambda: len(writer.histories) >= WRITTEN_BEFORE_BACKUP, timeout=60
            ), "the writer did not get going"
        before = writer.snapshot()
        made = orders_cli(tmp_path, "backup", "create", str(tmp_path / "backup"), env=env)
        after = writer.snapshot()
    assert made.returncode == 0, made.stderr
    assert len(after) > len(before) or after != before, "nothing was written during the backup"

    verified = orders_cli(tmp_path, "backup", "verify", str(tmp_path / "backup"), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "sound" in verified.stdout

    key = tmp_path / "kek"
    key.write_text(TEST_KEY_ENCRYPTION_TEXT)
    restored_dir = tmp_path / "restored"
    restored = orders_cli(
        tmp_path,
        "backup",
        "restore",
        str(tmp_path / "backup"),
        "--data-dir",
        str(restored_dir),
        "--key-file",
        str(key),
        env={"ORDERS_KEY_ENCRYPTION_KEY": ""},
    )
    assert restored.returncode == 0, restored.stderr

    env = {"ORDERS_DATA_DIR": str(restored_dir)}
    with orders_process(["up"], tmp_path, env) as server, httpx.Client(base_url=server.url) as api:
        for order_id, events in before.items():
            history = api.get(f"/orders/{order_id}/history")
            assert history.status_code == 200, (order_id, history.text)
            assert [event["type"] for event in history.json()["events"]][: len(events)] == events
        last = list(before)[-1]

        def searchable() -> bool:
            answer = api.get(f"/orders/{last}")
            return answer.status_code == 200 and answer.json()["customer"]["name"] != ""

        assert eventually(searchable, within_s=30), "the restored read model did not catch up"
        assert api.get(f"/orders/{last}").json()["customer"]["email"] == "grace@example.com"


def _store(tmp_path: Path, orders: int = 3) -> dict[str, str]:
    """A store whose key-encryption key the data directory keeps (none in the environment)."""
    env = {"ORDERS_DATA_DIR": str(tmp_path / "data"), "ORDERS_KEY_ENCRYPTION_KEY": ""}
    seeded = orders_cli(tmp_path, "seed", "--orders", str(orders), env=env)
    assert seeded.returncode == 0, seeded.stderr
    return env


def test_a_backup_without_the_key_says_what_the_restore_needs(tmp_path: Path) -> None:
    env = _store(tmp_path)
    assert orders_cli(tmp_path, "backup", "create", "b", env=env).returncode == 0
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert not (tmp_path / "b" / "key-encryption-key").exists()
    assert manifest["key_included"] is False
    assert manifest["keys_needed"]

    refused = orders_cli(
        tmp_path, "backup", "restore", "b", "--data-dir", "r", env={"ORDERS_KEY_ENCRYPTION_KEY": ""}
    )
    assert refused.returncode == 1
    assert manifest["keys_needed"][0] in refused.stderr
    assert "--key-file" in refused.stderr
    assert not (tmp_path / "r" / "events.db").exists()


def test_the_key_goes_with_the_backup_only_when_asked(tmp_path: Path) -> None:
    env = _store(tmp_path)
    made = orders_cli(tmp_path, "backup", "create", "b", "--include-key", env=env)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "b" / "key-encryption-key").stat().st_mode & 0o077 == 0
    restored = orders_cli(
        tmp_path, "backup", "restore", "b", "--data-dir", "r", env={"ORDERS_KEY_ENCRYPTION_KEY": ""}
    )
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "r" / "key-encryption-key").read_text() == (
        tmp_path / "data" / "key-encryption-key"
    ).read_text()


def test_verify_finds_a_damaged_backup_and_restore_refuses_it(tmp_path: Path) -> None:
    env = _store(tmp_path)
    assert orders_cli(tmp_path, "backup", "create", "b", "--include-key", env=env).returncode == 0
    events = tmp_path / "b" / "events.db"
    damaged = bytearray(events.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    events.write_bytes(bytes(damaged))

    verified = orders_cli(tmp_path, "backup", "verify", "b", env=env)
    assert verified.returncode == 1
    assert "events.db" in verified.stderr
    assert "damaged" in verified.stdout
    refused = orders_cli(tmp_path, "backup", "restore", "b", "--data-dir", "r", env=env)
    assert refused.returncode == 1
    assert not (tmp_path / "r").exists()


def test_dry_runs_write_nothing_and_restore_never_overwrites_a_store(tmp_path: Path) -> None:
    env = _store(tmp_path)
    planned = orders_cli(tmp_path, "backup", "create", "b", "--dry-run", env=env)
    assert planned.returncode == 0
    assert "nothing written" in planned.stderr
    assert not (tmp_path / "b").exists()

    assert orders_cli(tmp_path, "backup", "create", "b", "--include-key", env=env).returncode == 0
    rehearsed = orders_cli(
        tmp_path, "backup", "restore", "b", "--data-dir", "r", "--dry-run", env=env
    )
    assert rehearsed.returncode == 0
    assert "nothing written" in rehearsed.stdout
    assert not (tmp_path / "r" / "events.db").exists()

    over = orders_cli(tmp_path, "backup", "restore", "b", "--data-dir", "data", env=env)
    assert over.returncode == 1
    assert "already holds events.db" in over.stderr


def test_a_backup_refuses_a_destination_that_is_not_empty(tmp_path: Path) -> None:
    env = _store(tmp_path)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "other").write_text("kept")
    made = orders_cli(tmp_path, "backup", "create", "b", env=env)
    assert made.returncode == 2
    assert "not empty" in made.stderr
    assert (tmp_path / "b" / "other").read_text() == "kept"
