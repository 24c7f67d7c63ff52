"""Regenerate tests/data/runs/small: a small, realistic, synthetic run directory.

    .venv/bin/python tests/data/runs/make_small_run.py

Three targets (two Lambda-like functions and an always-on container sharing `app = "hello"`),
an idle-gap scenario that straddles a ~6-minute keep-alive, a warm burst, a few failures and
warming pings. Seeded: the samples are identical on every run of this script.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from coldbench.sample import Sample
from coldbench.store import SCHEMA_VERSION, write_run_dir

OUT = Path(__file__).parent / "small"
START = datetime(2026, 11, 3, 2, 0, 0, tzinfo=UTC)
TARGETS = [
    {"name": "hello-lambda", "kind": "serverless", "labels": {"app": "hello", "provider": "aws"},
     "url": "https://example.lambda-url.eu-west-1.on.aws/", "keep_alive_s": 370.0,
     "init_ms": 240.0, "idle_reps": 6, "burst": 60},
    {"name": "resize-lambda", "kind": "serverless", "labels": {"app": "resize"},
     "url": "https://resize.lambda-url.eu-west-1.on.aws/", "keep_alive_s": 540.0,
     "init_ms": 610.0, "idle_reps": 2, "burst": 10},
    {"name": "hello-container", "kind": "container", "labels": {"app": "hello"},
     "url": "https://hello.example.net/", "keep_alive_s": float("inf"), "init_ms": 0.0,
     "idle_reps": 1, "burst": 40},
]
GAPS_S = (30.0, 120.0, 240.0, 300.0, 360.0, 420.0, 480.0, 600.0, 900.0)


def make_samples(rng: np.random.Generator) -> list[Sample]:
    samples: list[Sample] = []
    for target in TARGETS:
        clock = START + timedelta(seconds=float(rng.uniform(0, 5)))
        gaps = [g for g in GAPS_S for _ in range(target["idle_reps"])]
        rng.shuffle(gaps)
        steps = [("idle-gap", g) for g in gaps] + [("burst", 0.2)] * target["burst"]
        steps += [("warming", 60.0)] * 3
        for seq, (scenario, planned) in enumerate(steps):
            gap_s = planned + float(rng.uniform(0.001, 0.040))
            clock += timedelta(seconds=gap_s)
            sample = make_sample(rng, target, scenario, seq, gap_s, planned, clock)
            clock += timedelta(milliseconds=sample.latency_ms)
            samples.append(sample)
    samples.sort(key=lambda s: s.started_at)
    return [Sample.from_record({**s.to_record(), "probe_id": i}) for i, s in enumerate(samples)]


def make_sample(rng, target, scenario, seq, gap_s, planned, clock) -> Sample:
    idle = scenario == "idle-gap"
    p_cold = 1.0 / (1.0 + np.exp(-(gap_s - target["keep_alive_s"]) / 12.0))
    cold = idle and rng.random() < p_cold or (seq == 0 and target["kind"] == "serverless")
    dns, connect, tls = rng.lognormal(np.log([2.0, 9.0, 21.0]), 0.25)
    server = rng.lognormal(np.log(14.0 if target["kind"] == "serverless" else 6.0), 0.35)
    init = rng.lognormal(np.log(target["init_ms"]), 0.3) if cold else None
    ttfb = server + 9.0 + (init or 0.0)
    transfer = rng.lognormal(np.log(0.8), 0.3)
    error = None
    if rng.random() < 0.015:
        error = "timeout" if rng.random() < 0.5 else "http_5xx"
    latency = dns + connect + tls + ttfb + transfer
    instance = f"{target['name']}-{seq if cold else 0:04d}"
    return Sample(
        probe_id=0, target=target["name"], scenario=scenario, seq=seq,
        started_at=clock.isoformat(timespec="microseconds"), latency_ms=float(latency),
        kind=target["kind"], planned_gap_s=planned if idle else None,
        gap_s=gap_s if idle else None, dns_ms=float(dns), connect_ms=float(connect),
        tls_ms=float(tls), ttfb_ms=float(ttfb), transfer_ms=float(transfer),
        status=None if error == "timeout" else (502 if error else 200), error=error,
        bytes_read=0 if error else 212,
        label="unknown" if error else ("cold" if cold else "warm"),
        label_source="none" if error else "instrumented",
        instance_id=None if error else instance, invocation_n=None if error else (1 if cold else 2),
        init_ms=None if init is None else float(init),
        phase="warming" if scenario == "warming" else "user",
    )


def make_manifest() -> dict:
    suite = {
        "name": "small",
        "targets": [{k: t[k] for k in ("name", "kind", "labels", "url")} for t in TARGETS],
        "scenarios": [
            {"name": "idle-gap", "type": "idle_gap", "gaps_s": list(GAPS_S)},
            {"name": "burst", "type": "burst"},
        ],
    }
    return {
        "schema_version": SCHEMA_VERSION, "suite_name": "small", "status": "running",
        "run_id": "small", "started_at": START.isoformat(timespec="microseconds"),
        "ended_at": None, "seed": 7, "suite": suite,
        "environment": {"coldbench": "0.1.0", "python": "3.11.9", "implementation": "CPython",
                        "host": "fixture-host", "platform": "Linux-6.1-x86_64", "cpu_count": 2,
                        "libraries": {"numpy": "2.4.6", "pandas": "3.1.1"}},
    }


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    write_run_dir(OUT, make_samples(np.random.default_rng(20261103)), make_manifest())


if __name__ == "__main__":
    main()
