"""Putting a verified backup into an empty data directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from order_service.backup import manifest as layout
from order_service.backup.manifest import Manifest, fsync_tree
from order_service.backup.verify import included_keys, verify_backup
from order_service.personal.cipher import KeyEncryptionKey
from order_service.progress import Report, Tick, silent

STORES = (layout.EVENTS, layout.READ_MODEL, layout.ARCHIVE)


class RestoreRefusedError(Exception):
    """The backup was not restored (nothing written); the message says what it needs."""


@dataclass
class Restored:
    manifest: Manifest
    files: list[str] = field(default_factory=list)
    """What was (or, on a dry run, would be) written into the data directory."""
    read_model_rebuilt: bool = False
    """No read model restored: the projector builds it from the events at its next start."""
    key_source: str = ""
    """Where the key-encryption key the data needs comes from."""


def restore_backup(
    source: Path,
    data_dir: Path,
    *,
    offered_keys: Sequence[tuple[str, str]] = (),
    rebuild_read_model: bool = False,
    dry_run: bool = False,
    report: Report = silent,
) -> Restored:
    """Restore ``source`` into ``data_dir``; ``offered_keys`` are (where, key text) pairs the
    operator gave (``--key-file``, ``ORDERS_KEY_ENCRYPTION_KEY``). Raises RestoreRefusedError."""
    report(Tick("verifying the backup", 0, 2))
    manifest, problems = verify_backup(source)
    if manifest is None or problems:
        raise RestoreRefusedError("the backup does not verify: " + "; ".join(problems))
    occupied = [name for name in (*STORES, layout.KEY) if (data_dir / name).exists()]
    if occupied:
        raise RestoreRefusedError(
            f"{data_dir} already holds {', '.join(occupied)}: restore into an empty directory "
            "(stop the processes, move the old one aside, restore, start them on the new one)"
        )
    restored = Restored(manifest, key_source=_key_source(manifest, source, offered_keys))
    wanted = [layout.EVENTS, layout.ARCHIVE] if manifest.archive else [layout.EVENTS]
    if manifest.read_model and not rebuild_read_model:
        wanted.append(layout.READ_MODEL)
    else:
        restored.read_model_rebuilt = True
    if manifest.key_included:
        wanted.append(layout.KEY)
        if (source / layout.PREVIOUS_KEYS).is_file():
            wanted.append(layout.PREVIOUS_KEYS)
    given = [text for where, text in offered_keys if where == "--key-file"]
    if given and not manifest.key_included:
        wanted.append(layout.KEY)  # the processes on the new directory find it there
    restored.files = wanted
    if dry_run:
        return restored
    report(Tick("copying", 1, 2))
    _copy(source, data_dir, wanted, given[0] if given else None)
    report(Tick("copying", 2, 2))
    return restored


def _key_source(manifest: Manifest, source: Path, offered: Sequence[tuple[str, str]]) -> str:
    """Where the keys the data needs come from; RestoreRefusedError names any that are missing."""
    if not manifest.keys_needed:
        return "no customer key in this backup needs one"
    held: dict[str, str] = {}
    if manifest.key_included:
        held.update({key.id: f"the backup ({layout.KEY})" for key in included_keys(source)})
    for where, text in offered:
        try:
            held.setdefault(KeyEncryptionKey.from_text(text).id, where)
        except ValueError as error:
            raise RestoreRefusedError(f"{where}: {error}") from error
    missing = [kek for kek in manifest.keys_needed if kek not in held]
    if missing:
        raise RestoreRefusedError(
            "the customers' personal data in this backup is sealed by key-encryption key(s) "
            f"{', '.join(missing)}, which the backup does not hold (made without --include-key): "
            "give the key with --key-file FILE, or set ORDERS_KEY_ENCRYPTION_KEY (older keys in "
            "ORDERS_PREVIOUS_KEY_ENCRYPTION_KEYS) to it; restoring without it would make every "
            "customer's personal data unreadable"
        )
    return ", ".join(sorted({held[kek] for kek in manifest.keys_needed}))


def _copy(source: Path, data_dir: Path, names: list[str], given_key: str | None) -> None:
    """Beside the target first, then each renamed into place (one file system)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / ".restoring"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        if given_key is not None and not (source / layout.KEY).exists():
            (staging / layout.KEY).touch(mode=0o600)
            (staging / layout.KEY).write_text(given_key.strip())
        for name in names:
            if not (source / name).exists():
                continue
            if (source / name).is_dir():
                shutil.copytree(source / name, staging / name)
            else:
                shutil.copy2(source / name, staging / name)
        for secret in (layout.KEY, layout.PREVIOUS_KEYS):
            if (staging / secret).exists():
                os.chmod(staging / secret, 0o600)
        fsync_tree(staging)
        for name in names:
            os.replace(staging / name, data_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
