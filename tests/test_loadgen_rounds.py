"""benchmarks/loadgen/compare.py: comparison rows measured in alternating rounds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).parent.parent / "benchmarks" / "loadgen" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("loadgen_compare", _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["loadgen_compare"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["loadgen_compare"]


def test_rounds_alternate_the_order_and_pair_the_figures(compare) -> None:
    calls: list[str] = []

    def ours(k: int) -> float:
        calls.append(f"coldbench{k}")
        return 10.0 + k

    def ref(k: int) -> float:
        calls.append(f"ref{k}")
        return 5.0 + k

    pairs = compare.measure_alternating(3, ours, ref)
    assert calls == ["ref0", "coldbench0", "coldbench1", "ref1", "ref2", "coldbench2"]
    assert pairs == ((10.0, 5.0), (11.0, 6.0), (12.0, 7.0))


def test_a_rounds_row_reports_medians_and_the_median_ratio(compare) -> None:
    # Two rounds in the fast loopback state, one in the slow one: the ratio of the medians
    # (60/55) would hide that coldbench is 3x slower in the same state.
    pairs = ((60.0, 20.0), (62.0, 55.0), (59.0, 21.0))
    row = compare.build_rounds_row("keep-alive", "µs", pairs, "wrk", "<= 1.5x", "")
    assert (row.coldbench, row.reference) == (60.0, 21.0)
    assert row.ratio == pytest.approx(59 / 21)
    assert not row.met
    table = compare.format_table([row])
    assert "keep-alive, rounds: 60 / 20 µs = 3.00x, 62 / 55 µs = 1.13x, 59 / 21 µs = 2.81x" in table


def test_round_sizes_split_the_row(compare) -> None:
    sizes = compare.Sizes(rounds=3)
    assert sizes.round_s() == 3 and sizes.round_count(20_000) == 6_666
    assert compare.Sizes(duration_s=2.0, rounds=3).round_s() == 1
    assert compare.Sizes(rounds=1).round_s() == 10
