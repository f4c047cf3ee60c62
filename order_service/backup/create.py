"""Making a backup of a data directory's stores while the processes run."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from order_service.archive.cold import ColdArchive
from order_service.backup import manifest as layout
from order_service.backup.manifest import Manifest, describe, fsync_tree
from order_service.backup.sqlite_copy import copy_database, event_store_facts
from order_service.progress import Report, Tick, silent
from order_service.settings import Settings, sqlite_path

JOURNALS = ("-wal", "-shm", "-journal")


class BackupError(Exception):
    """The backup cannot be made as asked; nothing was left at the destination."""


@dataclass(frozen=True)
class Plan:
    events: Path
    read_model: Path | None
    archive: Path | None
    keys: list[str]
    """Key-encryption keys (as text) to include: empty unless asked."""

    def sources(self) -> list[Path]:
        return [p for p in (self.read_model, self.events) if p is not None]


def plan_backup(settings: Settings, destination: Path, *, include_key: bool) -> Plan:
    """What ``create_backup`` would copy; BackupError when it cannot."""
    if urlsplit(settings.event_store_url).scheme != "sqlite":
        raise BackupError(
            "orders backup copies the embedded SQLite store; EventStoreDB and Elasticsearch "
            "have their own backups (docs/operations.md, Backups)"
        )
    events = sqlite_path(settings.event_store_url)
    if not events.is_file():
        raise BackupError(f"no event store at {events}: set ORDERS_DATA_DIR or run from its parent")
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} exists and is not empty: choose a new directory")
    read_model: Path | None = None
    if urlsplit(settings.read_model_url).scheme == "sqlite":
        candidate = sqlite_path(settings.read_model_url)
        read_model = candidate if candidate.is_file() else None
    archive = settings.archive_path if ColdArchive(settings.archive_path).exists() else None
    keys: list[str] = []
    if include_key:
        current = _current_key(settings)
        if current is None:
            raise BackupError(
                "--include-key: no key-encryption key here (ORDERS_KEY_ENCRYPTION_KEY is empty "
                f"and {settings.data_dir / layout.KEY} does not exist)"
            )
        keys = [current, *filter(None, settings.previous_key_encryption_keys.split(","))]
    return Plan(events, read_model, archive, keys)


def _current_key(settings: Settings) -> str | None:
    """The key in use, never made here (the processes make it on first start)."""
    if settings.key_encryption_key:
        return settings.key_encryption_key
    path = settings.data_dir / layout.KEY
    return path.read_text().strip() if path.is_file() else None


def create_backup(
    settings: Settings, destination: Path, *, include_key: bool = False, report: Report = silent
) -> Manifest:
    """Copy the stores into ``destination`` (a new directory) and return its manifest.

    The read model is copied before the event store, so its checkpoints never pass the
    copied log's head: after a restore the projector resumes and catches up. The copy is
    made beside the destination and renamed into place once its manifest is on disk.
    """
    plan = plan_backup(settings, destination, include_key=include_key)
    draft = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(draft, ignore_errors=True)
    draft.mkdir(parents=True)
    try:
        manifest = _copy(plan, draft, report)
        fsync_tree(draft)
        if destination.exists():
            destination.rmdir()  # empty, checked by the plan
        draft.rename(destination)
    except BaseException:
        shutil.rmtree(draft, ignore_errors=True)
        raise
    return manifest


def _copy(plan: Plan, draft: Path, report: Report) -> Manifest:
    steps = len(plan.sources()) + (plan.archive is not None) + 1
    done = 0

    def step(phase: str) -> None:
        nonlocal done
        report(Tick(phase, done, steps))
        done += 1

    try:
        if plan.read_model is not None:
            step("copying the read model")
            copy_database(plan.read_model, draft / layout.READ_MODEL)
        step("copying the event store")
        copy_database(plan.events, draft / layout.EVENTS)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not copy a store: {error}") from error
    if plan.archive is not None:
        step("copying the archive")
        _copy_archive(plan.archive, draft / layout.ARCHIVE)
    if plan.keys:
        _write_secret(draft / layout.KEY, plan.keys[0])
        if plan.keys[1:]:
            _write_secret(draft / layout.PREVIOUS_KEYS, ",".join(plan.keys[1:]))
    step("checking the copy")
    head, events, keks = event_store_facts(draft / layout.EVENTS)
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(),
        head=head,
        events=events,
        read_model=plan.read_model is not None,
        archive=plan.archive is not None,
        key_included=bool(plan.keys),
        keys_needed=keks,
        files=describe(draft),
    )
    manifest.write(draft)
    report(Tick("checking the copy", steps, steps))
    return manifest


def _copy_archive(source: Path, target: Path) -> None:
    """The archive's files as they stand, with no archive run under way meanwhile."""
    try:
        with ColdArchive(source).running():
            target.mkdir()
            for path in sorted(source.rglob("*")):
                relative = path.relative_to(source)
                if path.is_dir() or path.name == ".lock" or path.name.endswith(JOURNALS):
                    continue
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                if path.suffix == ".db":
                    copy_database(path, target / relative)
                else:
                    shutil.copy2(path, target / relative)
    except BlockingIOError as error:
        raise BackupError("an archive run is under way: back up when it has finished") from error


def _write_secret(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text)
