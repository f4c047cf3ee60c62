"""Named points where fault tests kill a real process mid-work (``ORDERS_FAILPOINT=name[:n]``).

Off unless the variable is set: then the process SIGKILLs itself the n-th time (default the
first) it passes that point, exactly as a crash or an OOM kill would stop it there.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passed: Counter[str] = Counter()


def failpoint(name: str) -> None:
    wanted = os.environ.get("ORDERS_FAILPOINT")
    if not wanted:
        return
    point, _, times = wanted.partition(":")
    if point != name:
        return
    _passed[name] += 1
    if _passed[name] >= int(times or 1):
        os.kill(os.getpid(), signal.SIGKILL)
