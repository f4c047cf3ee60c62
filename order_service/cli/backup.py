"""``orders backup create|verify|restore``: the embedded mode's backups (order_service.backup).

Exit status: 0 done (or, with --dry-run, it would be); 1 the backup is damaged or the restore
refused (the message says what it needs); 2 bad usage, configuration or an unreadable store.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from order_service.backup import (
    BackupError,
    RestoreRefusedError,
    create_backup,
    plan_backup,
    restore_backup,
    verify_backup,
)
from order_service.cli.output import answers, console, progress_bars
from order_service.settings import Settings


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser("backup", help="back up and restore the embedded SQLite stores")
    actions = backup.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create", help="copy the stores into a new directory while the processes run"
    )
    create.add_argument("destination", type=Path, metavar="DEST", help="a new, empty directory")
    create.add_argument(
        "--include-key",
        action="store_true",
        help="put the key-encryption key in the backup too (then guard the backup like the key)",
    )
    create.add_argument("--dry-run", action="store_true", help="say what would be copied")
    create.set_defaults(handler=_create)

    verify = actions.add_parser("verify", help="check a backup's files, databases and key")
    verify.add_argument("destination", type=Path, metavar="DEST")
    verify.set_defaults(handler=_verify)

    restore = actions.add_parser("restore", help="restore a backup into an empty data directory")
    restore.add_argument("destination", type=Path, metavar="DEST", help="the backup directory")
    restore.add_argument(
        "--data-dir", type=Path, required=True, metavar="DIR", help="where to restore (empty)"
    )
    restore.add_argument(
        "--key-file",
        type=Path,
        help="the key-encryption key, for a backup made without --include-key",
    )
    restore.add_argument(
        "--rebuild-read-model",
        action="store_true",
        help="leave the read model out: the projector rebuilds it from the events",
    )
    restore.add_argument("--dry-run", action="store_true", help="verify and say what would be done")
    restore.set_defaults(handler=_restore)


def _create(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        if args.dry_run:
            plan = plan_backup(settings, args.destination, include_key=args.include_key)
            for path in plan.sources() + ([plan.archive] if plan.archive else []):
                console.print(f"would copy {path}")
            key = "with" if plan.keys else "without"
            console.print(f"{key} the key-encryption key; nothing written")
            return 0
        with progress_bars() as report:
            manifest = create_backup(
                settings, args.destination, include_key=args.include_key, report=report
            )
    except BackupError as error:
        console.print(f"[red]orders backup: {error}[/red]")
        return 2
    answers.print(
        f"backup {args.destination}: {manifest.events:,} events (head {manifest.head}), "
        f"read model {'copied' if manifest.read_model else 'not copied'}, "
        f"archive {'copied' if manifest.archive else 'none'}"
    )
    if manifest.key_included:
        console.print("[yellow]the backup holds the key-encryption key: guard it so[/yellow]")
    elif manifest.keys_needed:
        console.print(
            f"a restore needs key-encryption key {', '.join(manifest.keys_needed)} "
            "(not in the backup: keep it apart)"
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    manifest, problems = verify_backup(args.destination)
    for problem in problems:
        console.print(f"[red]{problem}[/red]")
    if manifest is None or problems:
        answers.print(f"backup {args.destination}: damaged ({len(problems)} problems)")
        return 1
    answers.print(
        f"backup {args.destination}: sound; {manifest.events:,} events (head {manifest.head}) "
        f"made {manifest.created_at}; key {'included' if manifest.key_included else 'not included'}"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    offered: list[tuple[str, str]] = []
    if args.key_file is not None:
        try:
            offered.append(("--key-file", args.key_file.read_text()))
        except OSError as error:
            console.print(f"[red]--key-file: {error}[/red]")
            return 2
    for variable in ("ORDERS_KEY_ENCRYPTION_KEY", "ORDERS_PREVIOUS_KEY_ENCRYPTION_KEYS"):
        for text in filter(None, os.environ.get(variable, "").split(",")):
            offered.append((variable, text))
    try:
        with progress_bars() as report:
            restored = restore_backup(
                args.destination,
                args.data_dir,
                offered_keys=offered,
                rebuild_read_model=args.rebuild_read_model,
                dry_run=args.dry_run,
                report=report,
            )
    except RestoreRefusedError as error:
        console.print(f"[red]orders backup restore: {error}[/red]")
        return 1
    verb = "would restore" if args.dry_run else "restored"
    answers.print(f"{verb} {', '.join(restored.files)} into {args.data_dir}")
    answers.print(f"key-encryption key: {restored.key_source}")
    if restored.read_model_rebuilt:
        answers.print(
            "read model: not restored; the projector builds the SQLite one from the events at "
            "its next start (an Elasticsearch read model has its own snapshots)"
        )
    if args.dry_run:
        answers.print("nothing written")
    return 0
