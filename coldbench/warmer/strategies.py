"""Warming strategies: small immutable objects that turn a workload into a schedule of actions.

Every strategy answers one question, `build_actions(arrivals_s, duration_s)`: which warming
actions go out, and when, for this arrival schedule. The live experiment executes the actions
against a real platform; the simulator replays the very same list, so both judge one plan.

Actions are `ping` (a round of `fan_out` concurrent warming invocations, each held `hold_ms` so
that they land on distinct instances: the external-warmer style of lambda-warmer and
serverless-plugin-warmup) and `provision` (set provisioned concurrency to `count`; 0 clears it).
A provision action at time 0 is applied, and waited for, before the workload starts.

All times are seconds on the experiment's clock (after any trace compression). Pure: no I/O.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

STRATEGY_TYPES = ("none", "ping", "provisioned", "predictive")


@dataclass(frozen=True, slots=True)
class WarmAction:
    """One thing a strategy does at `at_s`: a ping round or a provisioned-concurrency change."""

    at_s: float
    kind: str  # ping | provision
    count: int  # ping: fan-out; provision: instances (0 = clear)
    hold_ms: float = 0.0
    round: int = 0  # index of this action within its strategy's schedule


class Strategy(Protocol):
    """What the experiment and the simulator need from a strategy."""

    @property
    def name(self) -> str:
        """Unique within an experiment: names the strategy's function copy and series."""
        ...

    @property
    def kind(self) -> str:
        """One of STRATEGY_TYPES."""
        ...

    def build_actions(self, arrivals_s: ArrayLike, duration_s: float) -> tuple[WarmAction, ...]:
        """The strategy's actions for this arrival schedule, in time order."""
        ...

    def describe(self) -> str:
        """One line for reports, e.g. "ping every 4s × 1, hold 0ms"."""
        ...


def _numbered(actions: Sequence[WarmAction]) -> tuple[WarmAction, ...]:
    ordered = sorted(actions, key=lambda a: a.at_s)
    return tuple(WarmAction(a.at_s, a.kind, a.count, a.hold_ms, i) for i, a in enumerate(ordered))


@dataclass(frozen=True, slots=True)
class NoWarming:
    """The baseline: accept whatever cold starts the platform gives."""

    name: str = "none"

    @property
    def kind(self) -> str:
        """Strategy type."""
        return "none"

    def build_actions(self, arrivals_s: ArrayLike, duration_s: float) -> tuple[WarmAction, ...]:
        """No actions."""
        return ()

    def describe(self) -> str:
        """One line for reports."""
        return "no warming (baseline)"


@dataclass(frozen=True, slots=True)
class PingWarming:
    """Every `interval_s`, `fan_out` concurrent warming invocations held `hold_ms` each."""

    name: str
    interval_s: float
    fan_out: int = 1
    hold_ms: float = 0.0
    start_s: float = 0.0

    @property
    def kind(self) -> str:
        """Strategy type."""
        return "ping"

    def build_actions(self, arrivals_s: ArrayLike, duration_s: float) -> tuple[WarmAction, ...]:
        """A ping round at start, start + interval, ... up to the end of the workload."""
        count = max(0, math.ceil((duration_s - self.start_s) / self.interval_s - 1e-9))
        times = self.start_s + self.interval_s * np.arange(count)
        return _numbered([WarmAction(float(t), "ping", self.fan_out, self.hold_ms) for t in times])

    def describe(self) -> str:
        """One line for reports."""
        return f"ping every {self.interval_s:g}s × {self.fan_out}, hold {self.hold_ms:g}ms"


@dataclass(frozen=True, slots=True)
class ProvisionWindow:
    """`count` provisioned instances from `start_s` until `end_s` (inf: the end of the run)."""

    start_s: float
    end_s: float
    count: int


@dataclass(frozen=True, slots=True)
class ProvisionedWarming:
    """Provisioned concurrency through the provider, constant or on a time-windowed schedule."""

    name: str
    windows: tuple[ProvisionWindow, ...]

    @classmethod
    def constant(cls, name: str, count: int) -> ProvisionedWarming:
        """`count` instances for the whole run (provisioned(n))."""
        return cls(name, (ProvisionWindow(0.0, math.inf, count),))

    @property
    def kind(self) -> str:
        """Strategy type."""
        return "provisioned"

    def count_at(self, t_s: float) -> int:
        """Provisioned instances requested at time `t_s`."""
        return sum(w.count for w in self.windows if w.start_s <= t_s < w.end_s)

    def build_actions(self, arrivals_s: ArrayLike, duration_s: float) -> tuple[WarmAction, ...]:
        """A provision action at every window edge inside the run where the count changes."""
        edges = sorted({0.0} | {e for w in self.windows for e in (w.start_s, w.end_s)
                                if 0.0 < e < duration_s})
        actions, current = [], 0
        for edge in edges:
            count = self.count_at(edge)
            if count != current:
                actions.append(WarmAction(edge, "provision", count))
                current = count
        return _numbered(actions)

    def describe(self) -> str:
        """One line for reports."""
        if len(self.windows) == 1 and self.windows[0].start_s == 0 and math.isinf(self.windows[0].end_s):
            return f"provisioned concurrency {self.windows[0].count}"
        parts = [f"{w.count} in [{w.start_s:g}s, {w.end_s:g}s)" for w in self.windows]
        return "provisioned " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class PredictiveWarming:
    """Client-side pre-warming driven by the observed idle-time (inter-arrival) histogram.

    After the hybrid histogram policy of Shahrad et al., "Serverless in the Wild:
    Characterizing and Optimizing the Serverless Workload at a Large Cloud Provider",
    USENIX ATC 2020: after each invocation, pre-warm at a low percentile of the idle-time
    distribution (`low_pct`, less a `margin`) and keep warm until a high one (`high_pct`, plus
    the margin). On a platform whose keep-alive we cannot set, "keep warm" means pings every
    `refresh_s` (below the platform's `keep_alive_s`); a pre-warm ping is sent `lead_s` before
    the window opens when the window opens after the instance would have been reclaimed.
    Until `min_samples` idle times are known the histogram is not trusted and nothing is sent
    (the platform's own keep-alive is the fallback, as the paper falls back to a fixed one).
    Idle times come only from arrivals before the decision (causal); the `window` most recent
    are kept, and windows are capped at `max_keep_s`.
    """

    name: str
    keep_alive_s: float
    low_pct: float = 5.0
    high_pct: float = 99.0
    margin: float = 0.1
    refresh_s: float | None = None  # None: 0.8 × keep_alive_s
    min_samples: int = 10
    window: int = 1000
    max_keep_s: float = 4 * 3600.0
    lead_s: float = 0.0
    hold_ms: float = 0.0

    @property
    def kind(self) -> str:
        """Strategy type."""
        return "predictive"

    @property
    def refresh_interval_s(self) -> float:
        """Seconds between keep-warm pings."""
        return self.refresh_s if self.refresh_s is not None else 0.8 * self.keep_alive_s

    def build_actions(self, arrivals_s: ArrayLike, duration_s: float) -> tuple[WarmAction, ...]:
        """Pings planned after each arrival from the idle times seen so far; a ping planned
        for after the next arrival is dropped (that arrival re-plans)."""
        arrivals = np.sort(np.asarray(arrivals_s, dtype=np.float64))
        histogram = IdleHistogram(self.window)
        actions: list[WarmAction] = []
        for index, t in enumerate(arrivals.tolist()):
            if index:
                histogram.add(t - float(arrivals[index - 1]))
            if len(histogram) < self.min_samples:
                continue
            until = float(arrivals[index + 1]) if index + 1 < len(arrivals) else duration_s
            low, high = self.compute_window(histogram)
            for ping_s in self._ping_times(t, low, high):
                if ping_s >= until:
                    break
                actions.append(WarmAction(ping_s, "ping", 1, self.hold_ms))
        return _numbered(actions)

    def compute_window(self, histogram: IdleHistogram) -> tuple[float, float]:
        """(pre-warm, keep-warm-until) offsets after an invocation, in seconds."""
        low = histogram.percentile(self.low_pct) * (1.0 - self.margin)
        high = min(histogram.percentile(self.high_pct) * (1.0 + self.margin), self.max_keep_s)
        return max(0.0, low), high

    def _ping_times(self, t: float, low: float, high: float) -> Iterator[float]:
        refresh = self.refresh_interval_s
        # The instance stays warm for about keep_alive_s after t on its own; a window that
        # opens later needs a pre-warm ping, one that opens sooner only needs refreshing.
        first = t + max(low - self.lead_s, 0.0) if low > refresh else t + refresh
        ping_s = first
        while ping_s <= t + high:
            yield ping_s
            ping_s += refresh

    def describe(self) -> str:
        """One line for reports."""
        return (f"predictive: pre-warm at p{self.low_pct:g}, keep warm to p{self.high_pct:g} "
                f"of idle time (refresh {self.refresh_interval_s:g}s)")


class IdleHistogram:
    """The most recent `window` idle times, kept sorted for exact type-1 percentiles."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []

    def add(self, idle_s: float) -> None:
        """Record one idle time (dropping the oldest beyond the window)."""
        self._recent.append(idle_s)
        bisect.insort(self._sorted, idle_s)
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def percentile(self, pct: float) -> float:
        """The ceil(pct/100 · n)-th smallest idle time (an observed value, never interpolated)."""
        n = len(self._sorted)
        rank = min(max(math.ceil(pct / 100.0 * n - 1e-9), 1), n)
        return self._sorted[rank - 1]

    def __len__(self) -> int:
        return len(self._sorted)


def build_action_frame_rows(strategy: Strategy, actions: Sequence[WarmAction]) -> list[dict[str, object]]:
    """Plain rows (strategy, at_s, kind, count, hold_ms, round) for manifests and reports."""
    return [{"strategy": strategy.name, "at_s": a.at_s, "kind": a.kind, "count": a.count,
             "hold_ms": a.hold_ms, "round": a.round} for a in actions]
