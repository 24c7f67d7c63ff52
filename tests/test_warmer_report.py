"""Measured outcomes from samples, the warm charts, and `coldbench warm --simulate` end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from coldbench.cli import main
from coldbench.sample import Sample
from coldbench.store import frame_from_records
from coldbench.warmer import charts
from coldbench.warmer.cost import Pricing
from coldbench.warmer.metrics import (
    build_cold_timeline,
    compute_measured_outcome,
    compute_provisioned_instance_s,
)
from coldbench.warmer.outcome import build_outcome_frame, outcome_from_record
from coldbench.warmer.strategies import PingWarming, ProvisionedWarming, WarmAction
from coldbench.warmer.workloads import Workload

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sample(target: str, seq: int, at_s: float, latency_ms: float, label: str, instance: str,
           phase: str = "user", probe_id: int = 0) -> Sample:
    return Sample(probe_id=probe_id, target=target, scenario="ping" if phase == "warming" else "workload",
                  seq=seq, started_at=(T0 + timedelta(seconds=at_s)).isoformat(),
                  latency_ms=latency_ms, label=label, instance_id=instance, phase=phase,
                  billed_ms=latency_ms, label_source="platform")


def test_measured_ping_outcome_counts_fan_out_and_collisions() -> None:
    strategy = PingWarming("p4", 2.0, fan_out=2, hold_ms=200.0)
    actions = strategy.build_actions(np.zeros(0), 4.0)  # rounds at 0 s and 2 s
    samples = [
        sample("p4", 0, 0.0, 300.0, "cold", "a", "warming", 1),
        sample("p4", 0, 0.0, 300.0, "cold", "b", "warming", 2),
        sample("p4", 1, 2.0, 200.0, "warm", "a", "warming", 3),
        sample("p4", 1, 2.0, 200.0, "warm", "a", "warming", 4),  # both landed on one instance
        sample("p4", 0, 1.0, 2.0, "warm", "a", probe_id=5),
        sample("p4", 1, 2.1, 60.0, "cold", "c", probe_id=6),  # sent mid-round: a collision
    ]
    frame = frame_from_records([s.to_record() for s in samples])
    workload = Workload("test", np.array([1.0, 2.1]), 4.0, "test")
    outcome = compute_measured_outcome(strategy, frame, workload, actions, Pricing())
    assert outcome.user_requests == 2 and outcome.user_cold == 1 and outcome.cold_rate == 0.5
    assert outcome.warming_requests == 4 and outcome.warming_cold == 2
    assert outcome.fan_out == 2 and outcome.fan_out_rounds == 2
    assert outcome.fan_out_efficiency == pytest.approx(0.75) and outcome.full_fan_out_share == 0.5
    assert outcome.collisions == 1 and outcome.collisions_cold == 1
    assert outcome.usage.warming_on_demand_ms == 1000.0 and outcome.usage.user_on_demand_ms == 62.0
    assert 0 < outcome.cold_low < 0.5 < outcome.cold_high < 1


def test_measured_provisioned_outcome_uses_the_platform_instance_list() -> None:
    strategy = ProvisionedWarming.constant("prov", 1)
    actions = strategy.build_actions(np.zeros(0), 10.0)
    samples = [sample("prov", 0, 1.0, 10.0, "warm", "p1", probe_id=1),
               sample("prov", 1, 1.005, 80.0, "cold", "x", probe_id=2),  # spilled over
               sample("prov", 2, 5.0, 10.0, "warm", "p1", probe_id=3)]
    frame = frame_from_records([s.to_record() for s in samples])
    workload = Workload("test", np.array([1.0, 1.005, 5.0]), 10.0, "test")
    outcome = compute_measured_outcome(strategy, frame, workload, actions, Pricing(), {"p1"}, (0.2,))
    assert outcome.spill_over == 1 and outcome.spill_over_share == pytest.approx(1 / 3)
    assert outcome.provisioned_utilisation == pytest.approx(0.020 / 10.0)
    assert outcome.usage.provisioned_instance_s == 10.0 and outcome.seconds_to_ready == (0.2,)
    assert outcome.usage.user_provisioned_ms == 20.0
    timeline = build_cold_timeline(frame, workload)
    assert timeline["t_s"].tolist() == [1.0, 1.005, 5.0] and timeline["cold"].sum() == 1


def test_provisioned_instance_time_follows_the_schedule() -> None:
    actions = (WarmAction(0.0, "provision", 2), WarmAction(10.0, "provision", 0),
               WarmAction(20.0, "provision", 1))
    assert compute_provisioned_instance_s(actions, 30.0) == 2 * 10 + 1 * 10


def test_charts_draw_data_and_say_when_empty() -> None:
    outcomes = pd.DataFrame({"strategy": ["none", "ping", "none", "ping"],
                             "source": ["measured", "measured", "simulated", "simulated"],
                             "cold_rate": [0.4, 0.02, 0.38, 0.03], "cold_low": [0.3, 0.0, 0.35, 0.01],
                             "cold_high": [0.5, 0.1, 0.41, 0.05],
                             "cost_monthly_usd": [1.0, 1.3, 0.9, 1.25]})
    timeline = pd.DataFrame({"strategy": ["none"] * 4, "source": ["measured"] * 4,
                             "t_s": [1.0, 2.0, 3.0, 4.0], "cold": [1.0, 0.0, 1.0, 0.0]})
    costs = pd.DataFrame({"series": ["none", "none", "always-on container", "always-on container"],
                          "requests_per_month": [1e3, 1e9] * 2, "monthly_usd": [0.01, 100.0, 9.0, 9.0],
                          "kind": ["serverless", "serverless", "container", "container"]})
    empty = pd.DataFrame(columns=list(outcomes.columns))
    for plot, frame in ((charts.plot_cold_rate_vs_cost, outcomes),
                        (charts.plot_cold_rate_over_time, timeline),
                        (charts.plot_cost_crossover, costs)):
        fig, ax = plt.subplots()
        assert plot(frame, ax) is ax and ax.has_data()
        plt.close(fig)
    fig, ax = plt.subplots()
    charts.plot_cold_rate_vs_cost(empty, ax)
    assert "no strategy" in ax.texts[0].get_text()
    plt.close(fig)
    front = charts.build_pareto_front(np.array([1.0, 2.0, 3.0, 1.5]), np.array([0.5, 0.1, 0.2, 0.6]))
    assert front.tolist() == [0, 1]


SIM_SUITE = f"""
[suite]
name = "warm-sim"
seed = 5
[[targets]]
name = "fn"
url = "http://127.0.0.1:9/"
[[scenarios]]
type = "warm"
[warmer]
strategies = [
  {{ type = "none" }},
  {{ name = "ping", type = "ping", interval = "5min" }},
  {{ name = "provisioned", type = "provisioned", count = 1 }},
  {{ name = "predictive", type = "predictive", keep_alive = "6min", refresh = "5min", min_samples = 5 }},
]
[warmer.workload]
type = "trace"
path = "{DATA / 'traces' / 'azure2021_sample_200.csv'}"
format = "azure2021"
[warmer.simulate]
curve = {{ published = "{DATA / 'published' / 'shilkov_aws_2021_interval.json'}" }}
replicates = 40
[pricing]
memory_mb = 256
"""


def test_warm_simulate_writes_report_and_warm_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(SIM_SUITE, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["warm", str(suite), "--simulate", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ping: P(cold)" in printed and "report:" in printed
    payload = json.loads((out / "warm.json").read_text())
    assert payload["schema_version"] == 1 and payload["workload"]["requests"] == 32
    assert payload["curve"]["kind"] == "table" and payload["pricing"]["memory_mb"] == 256
    outcomes = [outcome_from_record(r) for r in payload["outcomes"]]
    assert [o.strategy for o in outcomes] == ["none", "ping", "provisioned", "predictive"]
    assert {o.source for o in outcomes} == {"simulated"} and outcomes[0].replicates == 40
    assert outcomes[1].cost_per_avoided_cold_usd > 0
    for name in ("cold_rate_vs_cost", "cold_rate_over_time", "cost_crossover"):
        assert (out / "report" / "figures" / f"{name}.png").stat().st_size > 1000
    markdown = (out / "report" / "report.md").read_text()
    assert "## Findings" in markdown and "What each strategy cost" in markdown
    html = (out / "report" / "index.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html
    frame = build_outcome_frame(outcomes)
    assert {"cost_monthly_usd", "usage_user_requests"} <= set(frame.columns)


def test_warm_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "suite.toml"
    suite.write_text(SIM_SUITE.replace('interval = "5min"', 'interval = "often"'), encoding="utf-8")
    assert main(["warm", str(suite), "--simulate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "warmer.strategies[1].interval" in err[0]
    calibrate = SIM_SUITE.split("[warmer.simulate]")[0] + '[warmer.simulate]\ncurve = "calibrate"\ncalibration_gaps = ["1s"]\n'
    suite.write_text(calibrate, encoding="utf-8")
    assert main(["warm", str(suite), "--simulate", "-o", str(tmp_path / "o2")]) == 2
    assert "measured during `coldbench warm`" in capsys.readouterr().err
