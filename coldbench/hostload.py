"""Other work on the measuring host during a run: CPU the host spent outside coldbench.

Latency from one run to the next moves with whatever else the host is doing: a compile, another
benchmark, a noisy neighbour's process. The load average says little about a run of a minute
(it is a 1-minute moving average, and counts coldbench itself). This monitor takes the host's
busy CPU time (psutil: all CPUs, not idle, not waiting for I/O) and coldbench's own process tree
(the client, the local sandbox and its function instances, workerd) at the start and end of a run;
the difference is the CPU, in cores, that other processes used while the run measured.

`coldbench compare` warns when a run shared its host, and does not judge latencies from it
(coldbench.compare.HOST_BUSY_FRACTION).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psutil


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """Cumulative CPU seconds of the host (busy) and of coldbench's process tree, at a moment."""

    wall_s: float
    host_busy_s: float
    own_s: float


def take_cpu_snapshot(root: psutil.Process | None = None) -> CpuSnapshot:
    """Now: the host's busy CPU seconds and those of `root` (default: this process) with every
    descendant, living or already reaped."""
    times = psutil.cpu_times()
    busy_s = sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(times, "guest", 0.0) \
        - getattr(times, "guest_nice", 0.0)  # guest time is already counted in user time
    root = root or psutil.Process()
    own_s = 0.0
    for process in [root, *_children(root)]:
        try:
            t = process.cpu_times()
        except psutil.Error:  # it ended between listing and reading: its parent counts it
            continue
        own_s += t.user + t.system + t.children_user + t.children_system
    return CpuSnapshot(time.monotonic(), busy_s, own_s)


def _children(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []


def describe_host_cpu(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, Any]:
    """The manifest's `host_cpu` record: cores busy on the host, used by coldbench, and used by
    other work (never below zero), averaged over the span between the snapshots."""
    wall_s = max(end.wall_s - start.wall_s, 1e-9)
    busy = max(end.host_busy_s - start.host_busy_s, 0.0) / wall_s
    own = max(end.own_s - start.own_s, 0.0) / wall_s
    return {"span_s": wall_s, "busy_cores": busy, "coldbench_cores": own,
            "other_cores": max(busy - own, 0.0), "cores": psutil.cpu_count() or 1}
