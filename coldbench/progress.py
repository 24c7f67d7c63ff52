"""Progress display: a rich live view on a terminal, plain log lines otherwise.

Subscribes to engine events; the clock is a parameter so tests can use a fake one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from coldbench.events import EventBus, ProbeScheduled, SampleRecorded

_NS_PER_S = 1e9


@dataclass
class TargetProgress:
    """Per-target counters shown in the live table."""

    done: int = 0
    total: int = 0
    errors: int = 0
    due_ns: int | None = None
    last_ms: float | None = None


@dataclass
class ProgressState:
    """Counters the display renders; updated from events (pure bookkeeping)."""

    total: int
    targets: dict[str, TargetProgress] = field(default_factory=dict)
    done: int = 0
    errors: int = 0

    def on_sample(self, event: SampleRecorded) -> None:
        """Count one finished probe."""
        sample = event.sample
        entry = self.targets.setdefault(sample.target, TargetProgress())
        entry.done += 1
        entry.due_ns = None
        entry.last_ms = sample.latency_ms
        self.done += 1
        if sample.error:
            entry.errors += 1
            self.errors += 1

    def on_scheduled(self, event: ProbeScheduled) -> None:
        """Remember when the next probe on a target is due."""
        self.targets.setdefault(event.target, TargetProgress()).due_ns = event.due_ns


def build_target_table(state: ProgressState, now_ns: int) -> Table:
    """Render the per-target table: done/total, errors, last latency, countdown to next probe."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("target", "done", "errors", "last ms", "next probe in"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for name, entry in state.targets.items():
        countdown = ""
        if entry.due_ns is not None:
            countdown = f"{max(0.0, (entry.due_ns - now_ns) / _NS_PER_S):.1f}s"
        last = f"{entry.last_ms:.1f}" if entry.last_ms is not None else "-"
        table.add_row(name, f"{entry.done}/{entry.total}", str(entry.errors), last, countdown)
    return table


def format_plain_progress(state: ProgressState) -> str:
    """One log-friendly progress line."""
    return f"progress: {state.done}/{state.total} probes, {state.errors} errors"


class ProgressDisplay:
    """Live (TTY) or plain (logs) progress; attach with `subscribe(bus)`."""

    def __init__(
        self,
        total: int,
        per_target_total: dict[str, int],
        *,
        quiet: bool = False,
        stream: IO[str] | None = None,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        plain_interval_s: float = 10.0,
    ) -> None:
        self.state = ProgressState(
            total=total, targets={t: TargetProgress(total=n) for t, n in per_target_total.items()}
        )
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.clock_ns = clock_ns
        self.live_mode = not quiet and self.stream.isatty()
        self._plain_interval_ns = int(plain_interval_s * _NS_PER_S)
        self._last_plain_ns = clock_ns()
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._task_id: TaskID | None = None

    def subscribe(self, bus: EventBus) -> None:
        """Receive engine events from `bus`."""
        bus.subscribe(SampleRecorded, self._on_sample)
        bus.subscribe(ProbeScheduled, self.state.on_scheduled)

    def __enter__(self) -> ProgressDisplay:
        if self.live_mode:
            console = Console(file=self.stream)
            self._progress = Progress(
                TextColumn("probes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("errors: {task.fields[errors]}"), console=console,
            )
            self._task_id = self._progress.add_task("run", total=self.state.total, errors=0)
            self._live = Live(self._render(), console=console, refresh_per_second=4,
                              get_renderable=self._render, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def _render(self) -> Group:
        assert self._progress is not None and self._task_id is not None
        self._progress.update(self._task_id, completed=self.state.done, errors=self.state.errors)
        return Group(self._progress, build_target_table(self.state, self.clock_ns()))

    def _on_sample(self, event: SampleRecorded) -> None:
        self.state.on_sample(event)
        if self.live_mode or self.quiet:
            return
        now = self.clock_ns()
        if now - self._last_plain_ns >= self._plain_interval_ns or self.state.done == self.state.total:
            self._last_plain_ns = now
            print(format_plain_progress(self.state), file=self.stream, flush=True)
