"""Progress lines for steps that can run for minutes (MC passes, feature extraction)."""

from __future__ import annotations

import logging
import time


class Progress:
    """Logs ``<what>: <done> of <total> (<seconds>s)`` at most once every ``every`` seconds,
    and once at the end, so that a long step's log shows it is moving."""

    def __init__(self, log: logging.Logger, what: str, total: int, every: float = 30.0):
        self.log, self.what, self.total, self.every = log, what, int(total), every
        self.start = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every or done >= self.total:
            self.last = now
            self.log.info("%s: %d of %d (%.0fs)", self.what, done, self.total, now - self.start)
