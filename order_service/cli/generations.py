"""``orders projection rebuild|rollback|generations|drop|export``: blue/green read-model work,
for every projection (``NAME``; order-search when none is named).

Exit status: 0 done; 1 refused or a problem found (parity, nothing to roll back to, the
active generation named for a drop); 2 bad usage, bad configuration or an engine down.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from order_service.cli.output import answers, console, operator_session, progress_bars
from order_service.cli.output import table as output_table
from projectors.order_search import NAME
from projectors.read_models.generations import GenerationError
from projectors.rebuilds import snapshot_file
from projectors.rebuilds.parity import ParityReport
from projectors.rebuilds.partitions import PartitionFailedError
from projectors.rebuilds.rebuild import Rebuild, RebuildOptions, RebuildRefusedError, RebuildReport
from projectors.registry import PROJECTIONS


def projection_argument(
    command: argparse.ArgumentParser,
    *,
    option: bool = False,
    default: str | None = NAME,
    help: str | None = None,
) -> None:
    """``NAME`` (or ``--projection NAME``): one of the registered projections, as ``name``."""
    names = sorted(PROJECTIONS)
    said = help or f"the projection ({', '.join(names)}; default {default})"
    if option:
        command.add_argument(
            "--projection", dest="name", default=default, choices=names, metavar="NAME", help=said
        )
    else:
        command.add_argument(
            "name", nargs="?", default=default, choices=names, metavar="NAME", help=said
        )


ORDER_SNAPSHOT_NAMES = sorted(name for name, p in PROJECTIONS.items() if p.from_snapshots)


def add_commands(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rebuild = actions.add_parser(
        "rebuild", help="build a new generation beside the serving one, then switch to it"
    )
    projection_argument(rebuild)
    rebuild.add_argument(
        "--from-snapshot",
        type=Path,
        metavar="FILE",
        help=f"start from a read-model snapshot ({NAME} only)",
    )
    rebuild.add_argument(
        "--from-order-snapshots",
        action="store_true",
        help="start archived orders from their final snapshots, not their archived events"
        f" ({', '.join(ORDER_SNAPSHOT_NAMES)})",
    )
    rebuild.add_argument("--batch-size", type=int, default=20_000, help="events per bulk write")
    rebuild.add_argument(
        "--force", action="store_true", help="switch even if the parity check finds problems"
    )
    rebuild.add_argument("--drop-old", action="store_true", help="delete the old generation")
    rebuild.add_argument(
        "--restart", action="store_true", help="discard an unfinished rebuild and start over"
    )
    rebuild.add_argument("--sample", type=int, default=200, help="documents compared (200)")
    rebuild.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="split the replay's streams over N worker processes (1: this one alone)",
    )
    rebuild.add_argument("--dry-run", action="store_true", help="say what would be done")
    rebuild.set_defaults(handler=_rebuild)

    rollback = actions.add_parser("rollback", help="switch back to the previous generation")
    projection_argument(rollback)
    rollback.add_argument("--dry-run", action="store_true", help="name it, switch nothing")
    rollback.set_defaults(handler=_rollback)

    generations = actions.add_parser("generations", help="list generations and their states")
    projection_argument(generations)
    generations.add_argument("--json", action="store_true", help="print JSON")
    generations.set_defaults(handler=_generations)

    drop = actions.add_parser("drop", help="delete a generation that does not serve")
    drop.add_argument("generation", help="g1, g2, ...")
    projection_argument(drop, option=True, help=f"whose generation (default {NAME})")
    drop.add_argument("--dry-run", action="store_true", help="check, delete nothing")
    drop.set_defaults(handler=_drop)

    export = actions.add_parser(
        "export", help=f"write a {NAME} snapshot (documents + checkpoint) to a file"
    )
    export.add_argument("--out", type=Path, required=True, help="file to write (.jsonl.gz)")
    export.add_argument("--dry-run", action="store_true", help="count, write nothing")
    export.set_defaults(handler=_export)


def _rebuild(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.sample < 0 or args.workers < 1:
        console.print(
            "[red]--batch-size and --workers must be at least 1 and --sample at least 0[/red]"
        )
        return 2
    if args.from_snapshot is not None and args.name != NAME:
        console.print(f"[red]--from-snapshot[/red]: snapshot files hold {NAME} documents only")
        return 2
    if args.from_order_snapshots and not PROJECTIONS[args.name].from_snapshots:
        console.print(
            f"[red]--from-order-snapshots[/red]: {args.name} needs each order's events"
            f" (it can start from snapshots: {', '.join(ORDER_SNAPSHOT_NAMES)})"
        )
        return 2
    if args.from_snapshot is not None and args.from_order_snapshots:
        console.print("[red]--from-snapshot and --from-order-snapshots: choose one[/red]")
        return 2
    if args.from_snapshot is not None:
        try:
            snapshot_file.read_header(args.from_snapshot)  # refuse a bad file before any work
        except (snapshot_file.SnapshotFileError, OSError, ValueError) as error:
            console.print(f"[red]cannot use {args.from_snapshot}[/red]: {error}")
            return 2
    options = RebuildOptions(
        batch_size=args.batch_size,
        snapshot=args.from_snapshot,
        from_snapshots=args.from_order_snapshots,
        force=args.force,
        drop_old=args.drop_old,
        restart=args.restart,
        sample=args.sample,
        workers=args.workers,
    )
    with operator_session() as container:
        options.open_worker = container.rebuild_workers(args.name)
        generations = container.generations_of(args.name)
        breakdown = container.breakdown_of(args.name)
        projection = PROJECTIONS[args.name]
        try:
            if args.dry_run:
                plan = Rebuild(
                    container.event_store,
                    container.archive,
                    generations,
                    container.projection_personal,
                    options,
                    projection=projection,
                    breakdown=breakdown,
                )
                report = plan.plan()
                verb = "would resume" if report.resumed else "would build"
                split = f" with {args.workers} workers" if args.workers > 1 else ""
                console.print(
                    f"{verb} {args.name} generation {report.generation} from {report.source}"
                    f"{split}, then switch from {report.previous}; nothing written"
                )
                return 0
            with progress_bars() as progress:
                rebuild = Rebuild(
                    container.event_store,
                    container.archive,
                    generations,
                    container.projection_personal,
                    options,
                    progress,
                    projection=projection,
                    breakdown=breakdown,
                )
                report = rebuild.run()
        except RebuildRefusedError as error:
            console.print(f"[red]not started[/red]: {error}")
            return 1
        except PartitionFailedError as error:
            console.print(f"[red]stopped[/red]: {error}")
            return 1
        except snapshot_file.SnapshotFileError as error:
            console.print(
                f"[red]stopped[/red]: {error}; rerun with a whole snapshot (or --restart)"
            )
            return 1
    _print_rebuild(report)
    return 1 if report.refused else 0


def _print_rebuild(report: RebuildReport) -> None:
    if report.parity is not None:
        print_parity(report.parity)
    loaded = f", {report.documents_loaded:,} documents from the snapshot"
    seeded = report.seeded
    started = f", {seeded.from_snapshots:,} archived orders from their snapshots" if seeded else ""
    console.print(
        f"{'resumed' if report.resumed else 'built'} {report.generation} from {report.source}: "
        f"{report.events:,} events in {report.seconds:.1f}s ({report.events_per_s:,.0f} events/s)"
        f"{loaded if report.documents_loaded else ''}{started}"
    )
    for worker in report.partitions:
        console.print(
            f"  worker {int(worker['partition']) + 1} of {len(report.partitions)}:"
            f" read {int(worker['events_read']):,} events, folded {int(worker['events_folded']):,}"
            f" in {worker['seconds']:.1f}s ({worker['cpu_s']:.1f}s CPU,"
            f" peak RSS {int(worker['peak_rss_mb'])} MB)"
        )
    if report.refused:
        console.print(f"[red]not switched[/red]: {'; '.join(report.refused)}")
        console.print(
            f"{report.generation} is kept, unfinished (archiving waits for it): rerun "
            f"`orders projection rebuild {report.projection}` to resume and check again, add"
            " --force to switch anyway, or `orders projection drop"
            f" {report.generation} --projection {report.projection}` to discard it"
        )
    elif report.switched:
        console.print(
            f"{report.projection} reads now use {report.generation}; {report.previous} kept"
            " for rollback"
        )
    if report.dropped:
        console.print(f"dropped {report.dropped}")


def print_parity(parity: ParityReport) -> None:
    title = f"parity: {parity.serving} (serving) vs {parity.candidate} (new)"
    if parity.kind == "sums":
        title += f", sums at position {parity.position}"
    table = output_table("", parity.serving, parity.candidate, title=title)
    table.add_row("documents", f"{parity.totals[0]:,}", f"{parity.totals[1]:,}")
    if parity.kind == "sums":
        table.add_row("sums rows", f"{parity.rows[0]:,}", f"{parity.rows[1]:,}")
    for status, (old, new) in parity.by_status.items():
        table.add_row(f"  {status}", f"{old:,}", f"{new:,}")
    table.add_row("dead letters", "", f"{parity.dead_letters:,}")
    console.print(table)
    if parity.kind == "sums":
        console.print(
            f"{parity.sampled} sums rows: {parity.identical} identical,"
            f" {len(parity.differences)} different"
        )
    else:
        console.print(
            f"sample of {parity.sampled}: {parity.identical} identical, {parity.in_flight} in"
            f" flight (versions differ), {len(parity.differences)} different"
        )
    for key, fields in list(parity.differences.items())[:10]:
        console.print(f"  {key}: {', '.join(fields)}")


def _rollback(args: argparse.Namespace) -> int:
    with operator_session() as container:
        read_model = container.generations_of(args.name)
        target = read_model.rollback_target()
        active = read_model.active()
        if target is None:
            console.print(f"[red]no previous generation is kept[/red]; {active} keeps serving")
            return 1
        if args.dry_run:
            console.print(f"would switch from {active} back to {target}")
            return 0
        read_model.switch(target)
    console.print(f"{args.name} reads now use {target} again; {active} is kept (drop it when sure)")
    return 0


def _generations(args: argparse.Namespace) -> int:
    with operator_session() as container:
        found = container.generations_of(args.name).generations()
    if args.json:
        print(json.dumps([asdict(generation) for generation in found]))
        return 0
    table = output_table(
        "generation",
        "state",
        "schema",
        "created",
        "retired",
        "progress",
        title=f"{args.name} generations",
    )
    for generation in found:
        progress = generation.progress
        shown = (
            f"{progress.get('fraction', 0):.0%}, {progress.get('events_per_s', 0):,} events/s"
            if progress
            else ""
        )
        table.add_row(
            generation.name,
            generation.state,
            "-" if generation.schema_version is None else str(generation.schema_version),
            generation.created_at[:19],
            (generation.retired_at or "")[:19],
            shown,
        )
    answers.print(table)
    return 0


def _drop(args: argparse.Namespace) -> int:
    with operator_session() as container:
        read_model = container.generations_of(args.name)
        try:
            names = [generation.name for generation in read_model.generations()]
            if args.generation not in names:
                console.print(
                    f"[red]no generation {args.generation}[/red] (have {', '.join(names)})"
                )
                return 1
            if args.generation == read_model.active():
                console.print(f"[red]{args.generation} serves reads[/red]; switch first")
                return 1
            if not args.dry_run:
                read_model.drop(args.generation)
        except GenerationError as error:
            console.print(f"[red]{error}[/red]")
            return 1
    console.print(f"{'would drop' if args.dry_run else 'dropped'} {args.generation}")
    return 0


def _export(args: argparse.Namespace) -> int:
    with operator_session() as container:
        generation = container.read_model.active()
        index = container.read_model.open(generation)
        if args.dry_run:
            console.print(
                f"would export {index.count():,} documents of {generation} at checkpoint "
                f"{index.checkpoint().position} to {args.out}"
            )
            return 0
        with progress_bars() as progress:
            header, count = snapshot_file.export(
                index, args.out, container.personal, generation=generation, report=progress
            )
    console.print(
        f"exported {count:,} documents of {generation} at checkpoint {header.checkpoint}"
        f" to {args.out}"
    )
    return 0
