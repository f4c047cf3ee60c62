"""Checking a backup: every file as the manifest says, each database whole, the read model's
checkpoints within the copied log, and the included key the one its customers' keys need."""

from __future__ import annotations

from pathlib import Path

from order_service.backup import manifest as layout
from order_service.backup.manifest import Manifest, describe
from order_service.backup.sqlite_copy import checkpoints, event_store_facts, integrity_problems
from order_service.personal.cipher import KeyEncryptionKey


def verify_backup(directory: Path) -> tuple[Manifest | None, list[str]]:
    """The manifest (None if unreadable) and every problem found; no problems: sound."""
    try:
        manifest = Manifest.read(directory)
    except ValueError as error:
        return None, [str(error)]
    problems = _files(manifest, directory)
    if problems:
        return manifest, problems  # the databases are not opened when their bytes are wrong
    for name in sorted(manifest.files):
        if name.endswith(".db"):
            problems += integrity_problems(directory / name)
    if problems:
        return manifest, problems
    problems += _log(manifest, directory)
    problems += _keys(manifest, directory)
    return manifest, problems


def _files(manifest: Manifest, directory: Path) -> list[str]:
    found = describe(directory)
    problems = [f"{name}: missing" for name in sorted(set(manifest.files) - set(found))]
    extra = sorted(set(found) - set(manifest.files))
    problems += [f"{name}: not in the manifest" for name in extra]
    for name in sorted(set(found) & set(manifest.files)):
        if found[name] != manifest.files[name]:
            problems.append(f"{name}: its size or SHA-256 differs from the manifest (damaged)")
    if layout.EVENTS not in manifest.files:
        problems.append(f"{layout.EVENTS}: the manifest names no event store")
    return problems


def _log(manifest: Manifest, directory: Path) -> list[str]:
    head, events, keks = event_store_facts(directory / layout.EVENTS)
    problems = []
    if (head, events) != (manifest.head, manifest.events):
        problems.append(
            f"{layout.EVENTS}: head {head} and {events} events, the manifest says "
            f"{manifest.head} and {manifest.events}"
        )
    if keks != manifest.keys_needed:
        problems.append(f"{layout.EVENTS}: wrapped by keys {keks}, the manifest says otherwise")
    if manifest.read_model:
        for table, position in checkpoints(directory / layout.READ_MODEL).items():
            if head is None or position > head:
                problems.append(
                    f"{layout.READ_MODEL}: {table} at {position}, past the log's head {head}"
                )
    return problems


def _keys(manifest: Manifest, directory: Path) -> list[str]:
    if not manifest.key_included:
        return []
    try:
        held = {key.id for key in included_keys(directory)}
    except ValueError as error:
        return [f"{layout.KEY}: {error}"]
    missing = sorted(set(manifest.keys_needed) - held)
    return [f"{layout.KEY}: lacks key {kek}, which wraps customers' keys" for kek in missing]


def included_keys(directory: Path) -> list[KeyEncryptionKey]:
    texts = [(directory / layout.KEY).read_text()]
    previous = directory / layout.PREVIOUS_KEYS
    if previous.is_file():
        texts += previous.read_text().split(",")
    return [KeyEncryptionKey.from_text(text) for text in texts if text.strip()]
