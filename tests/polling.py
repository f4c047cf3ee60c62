"""Waiting for a state the system under test reaches by itself: poll its own answers, with a
deadline. Never a sleep standing in for synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(condition: Callable[[], bool], within_s: float, every_s: float = 0.02) -> bool:
    """True as soon as ``condition()`` holds; False if it did not within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return False
