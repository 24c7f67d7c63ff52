"""Platform fingerprints from recorded header sets (tests/data/headers) and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldbench.fingerprint import (
    FINGERPRINT_COLUMNS,
    PLATFORMS,
    Fingerprint,
    fingerprint_frame,
    parse_fingerprint,
)

HEADER_SETS = sorted((Path(__file__).parent / "data" / "headers").glob("*.json"))


def load_header_set(path: Path) -> dict:
    """One recorded header set: {"about", "headers", "expect"}."""
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", HEADER_SETS, ids=[p.stem for p in HEADER_SETS])
def test_recorded_header_set_gives_expected_fingerprint(path: Path) -> None:
    case = load_header_set(path)
    found = parse_fingerprint(case["headers"])
    assert found.platform in PLATFORMS
    for field, expected in case["expect"].items():
        value = getattr(found, field)
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(expected, float):
            assert value == pytest.approx(expected), field
        else:
            assert value == expected, field


def test_every_platform_has_a_recorded_header_set() -> None:
    platforms = {load_header_set(p)["expect"]["platform"] for p in HEADER_SETS}
    assert platforms == set(PLATFORMS)


def test_header_names_are_case_insensitive() -> None:
    case = load_header_set(HEADER_SETS[0])
    upper = {k.upper(): v for k, v in case["headers"].items()}
    assert parse_fingerprint(upper) == parse_fingerprint(case["headers"])


def test_no_headers_is_unknown() -> None:
    assert parse_fingerprint({}) == Fingerprint()


@pytest.mark.parametrize(("headers", "expected_ms"), [
    ({"X-Call-Id": "a", "X-Duration-Seconds": "abc"}, None),
    ({"X-Call-Id": "a", "X-Duration-Seconds": "-1"}, None),
    ({"Server-Timing": 'db;dur=3, total;dur=12.5;desc="all"'}, 12.5),
    ({"Server-Timing": "app;dur=7"}, 7.0),
    ({"x-envoy-upstream-service-time": "3"}, 3.0),
    ({"server": "istio-envoy", "x-envoy-upstream-service-time": "nan"}, None),
])
def test_server_reported_duration(headers: dict[str, str], expected_ms: float | None) -> None:
    assert parse_fingerprint(headers).server_duration_ms == expected_ms


def test_malformed_cf_ray_keeps_the_id_without_a_colo() -> None:
    found = parse_fingerprint({"cf-ray": "not-a-ray"})
    assert (found.platform, found.request_id, found.pop) == ("cloudflare", "not-a-ray", None)


def test_azure_invocation_id_wins_over_front_door_ref() -> None:
    found = parse_fingerprint({"x-azure-ref": "ref", "x-ms-invocation-id": "inv"})
    assert (found.platform, found.service, found.request_id) == ("azure", "functions", "inv")


def test_fingerprint_frame_adds_columns_from_json_headers() -> None:
    cells = [json.dumps(load_header_set(p)["headers"]) for p in HEADER_SETS[:3]]
    frame = pd.DataFrame({"target": ["a", "b", "c", "d", "e"],
                          "headers": [*cells, {"X-Call-Id": "x", "X-Duration-Seconds": "0.002"}, None]})
    out = fingerprint_frame(frame)
    assert "platform" not in frame.columns  # the input is left alone
    assert set(FINGERPRINT_COLUMNS) <= set(out.columns)
    assert out["server_duration_ms"].dtype == "float64"
    assert out["platform"].iloc[3] == "openfaas" and out["server_duration_ms"].iloc[3] == pytest.approx(2.0)
    assert out["platform"].iloc[4] == "unknown"


def test_fingerprint_frame_without_headers_column() -> None:
    out = fingerprint_frame(pd.DataFrame({"target": ["a"]}))
    assert out["platform"].tolist() == ["unknown"]


@given(st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=8))
def test_any_headers_parse_without_error(headers: dict[str, str]) -> None:
    assert parse_fingerprint(headers).platform in PLATFORMS
