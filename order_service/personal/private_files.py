"""What a process writes is its owner's alone: the data directory 0700, every file 0600.

The SQLite files hold personal data (the read model in clear, for search), and so do exports
and archive files; the default umask (022) would leave them readable by every local user.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

OWNER_ONLY_UMASK = 0o077


def keep_private(data_dir: Path) -> None:
    """Files and directories this process creates from now on are its owner's only; the data
    directory and what is already at its top (the SQLite files, secrets) are made so."""
    os.umask(OWNER_ONLY_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (data_dir, *data_dir.iterdir()):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            # Best effort: on a read-only disk the store's own open says what is wrong.
            with contextlib.suppress(OSError):
                path.chmod(mode & 0o700)
