"""Warming strategies: what pings, provisioned concurrency and predictive pre-warming buy and cost.

    strategies  none / ping / provisioned / predictive, each a schedule of actions
    workloads   Poisson, bursty on/off, and trace replay (traces: Azure 2019 and 2021 formats)
    experiment  `coldbench warm`: every strategy at once on its own function copy (live, lanes)
    metrics     measured outcome per strategy; cost: the pricing model
    curves, simulator, predict   P(cold | idle gap) curves and the discrete-event simulator
    charts, report               the warm report (Pareto front, cold rate over time, crossover)
"""

from __future__ import annotations

from coldbench.warmer.strategies import (
    NoWarming,
    PingWarming,
    PredictiveWarming,
    ProvisionedWarming,
    ProvisionWindow,
    Strategy,
    WarmAction,
)

__all__ = [
    "NoWarming",
    "PingWarming",
    "PredictiveWarming",
    "ProvisionWindow",
    "ProvisionedWarming",
    "Strategy",
    "WarmAction",
]
