"""A real `orders up` process with tight limits, and real file systems for fault tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import Server, orders_process

TIGHT_LIMITS = {
    "ORDERS_HEADER_TIMEOUT_MS": "1000",
    "ORDERS_REQUEST_TIMEOUT_MS": "2000",
    "ORDERS_MAX_HEADER_BYTES": "16384",
    "ORDERS_MAX_HEADERS": "50",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with orders_process(["up"], tmp_path, TIGHT_LIMITS) as running:
        yield running


def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "mounting a file system needs root"
    if shutil.which("mount") is None:
        return "no mount command"
    return None


needs_mount = pytest.mark.skipif(_can_mount() is not None, reason=str(_can_mount()))


@contextmanager
def tmpfs(where: Path, size: str, *, options: str = "") -> Iterator[Path]:
    """A small RAM file system of its own, so "disk full" is real and harms nothing else."""
    where.mkdir(parents=True, exist_ok=True)
    extra = f",{options}" if options else ""
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}{extra}", "tmpfs", where], check=True
    )
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", where], check=False)


@contextmanager
def ext4_image(where: Path, size_mb: int) -> Iterator[Path]:
    """An ext4 file system in a loop-mounted image: one that ``fsfreeze`` can freeze."""
    image = where.with_suffix(".img")
    subprocess.run(["truncate", "-s", f"{size_mb}M", image], check=True)
    subprocess.run(["mkfs.ext4", "-q", image], check=True)
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-o", "loop", image, where], check=False)
    if mounted.returncode != 0:
        pytest.skip("loop devices are not available on this machine")
    try:
        yield where
    finally:
        subprocess.run(["fsfreeze", "-u", where], check=False, capture_output=True)
        subprocess.run(["umount", "-l", where], check=False)
