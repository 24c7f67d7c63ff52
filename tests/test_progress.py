"""Progress output with a fake clock: exact text at a fixed width; plain mode for logs."""

from __future__ import annotations

import io

from rich.console import Console

from coldbench.events import EventBus, ProbeScheduled, SampleRecorded
from coldbench.progress import ProgressDisplay, build_target_table
from coldbench.sample import Sample


def _sample(target: str, latency_ms: float, error: str | None = None) -> Sample:
    return Sample(probe_id=0, target=target, scenario="s", seq=0, started_at="2026-12-04T00:00:00+00:00",
                  latency_ms=latency_ms, error=error)


def test_live_table_shows_counts_errors_and_countdown() -> None:
    now = [10_000_000_000]
    display = ProgressDisplay(4, {"fn": 2, "box": 2}, quiet=True, clock_ns=lambda: now[0])
    bus = EventBus()
    display.subscribe(bus)
    bus.publish(SampleRecorded(_sample("fn", 123.456)))
    bus.publish(SampleRecorded(_sample("box", 9.0, error="refused")))
    bus.publish(ProbeScheduled(target="fn", due_ns=now[0] + 4_250_000_000))
    console = Console(width=60, record=True, file=io.StringIO(), color_system=None)
    console.print(build_target_table(display.state, now[0]))
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert lines == [
        "target  done  errors  last ms  next probe in",
        "fn       1/2       0    123.5           4.2s",
        "box      1/2       1      9.0",
    ]


def test_plain_mode_prints_log_lines_not_escape_codes() -> None:
    now = [0]
    stream = io.StringIO()
    display = ProgressDisplay(2, {"fn": 2}, stream=stream, clock_ns=lambda: now[0], plain_interval_s=10)
    bus = EventBus()
    display.subscribe(bus)
    with display:
        bus.publish(SampleRecorded(_sample("fn", 1.0)))  # within 10 s of the last line: quiet
        now[0] += 11_000_000_000
        bus.publish(SampleRecorded(_sample("fn", 1.0, error="reset")))
    assert stream.getvalue() == "progress: 2/2 probes, 1 errors\n"
    assert not display.live_mode
