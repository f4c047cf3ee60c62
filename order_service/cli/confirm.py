"""Asking an operator before work that cannot be taken back: ``--yes`` answers in advance; with
no terminal to ask on (a script, a pipe) the answer is no, so nothing happens by accident."""

from __future__ import annotations

import sys

from order_service.cli.output import console


def confirmed(warning: str, question: str, *, yes: bool) -> bool:
    """Whether to go on: ``--yes``, or ``y`` typed at the terminal after the warning."""
    if yes:
        return True
    console.print(f"[yellow]{warning}[/yellow]")
    if not sys.stdin.isatty():
        console.print("not confirmed: no terminal to ask on; pass --yes to go ahead")
        return False
    answer = console.input(f"{question} [y/N] ")
    if answer.strip().lower() in ("y", "yes"):
        return True
    console.print("not confirmed: nothing done")
    return False
