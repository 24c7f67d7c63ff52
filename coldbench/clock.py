"""Waiting for a monotonic deadline precisely, without starving the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

_NS_PER_S = 1_000_000_000
SPIN_WINDOW_NS = 1_500_000


async def sleep_until(due_ns: int, clock: Callable[[], int]) -> None:
    """Return once `clock()` reaches `due_ns`.

    Event-loop timers have millisecond granularity, so the last 1.5 ms are spent yielding to the
    loop (`sleep(0)`, which keeps serving I/O) instead of trusting a timer to wake on time.
    """
    while True:
        remaining_ns = due_ns - clock()
        if remaining_ns <= 0:
            return
        if remaining_ns > SPIN_WINDOW_NS:
            await asyncio.sleep((remaining_ns - SPIN_WINDOW_NS) / _NS_PER_S)
        else:
            await asyncio.sleep(0)
