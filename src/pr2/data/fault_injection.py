"""Fault injection for the kill-anywhere tests: `PR2_KILL_AT_WRITE=N` SIGKILLs this process at its N-th write.

Every write pr2 makes to a run's state goes through `data.io` (a JSONL line appended, a whole file renamed into
place), so the states a killed stage can leave on disk are exactly these: after some writes, or in the middle of
one. At the N-th write the process dies in the worst moment of that write: a JSONL line half written (a torn
tail), or a whole file written to its temporary name but not yet renamed. Killing between writes leaves the same
files as killing right after the previous one, so choosing N at random covers every state a SIGKILL can leave.
`PR2_KILL_AT_WRITE=count` kills nothing and only counts, in `writes()` (to choose kill points).
Unset (always, outside the tests), this costs one dictionary lookup per write.
"""

from __future__ import annotations

import os
import signal
from typing import TextIO

ENV = "PR2_KILL_AT_WRITE"
_writes = 0


def write_point(handle: TextIO | None = None, data: str = "") -> None:
    """Count one write; at the N-th, write the first half of `data` to `handle` (when given), then SIGKILL."""
    global _writes
    target = os.environ.get(ENV)
    if not target:
        return
    _writes += 1
    if target == "count":
        return
    if _writes == int(target):
        if handle is not None and data:
            handle.write(data[: max(1, len(data) // 2)])
            handle.flush()
            os.fsync(handle.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


def writes() -> int:
    """Writes counted so far in this process (while PR2_KILL_AT_WRITE is set)."""
    return _writes
