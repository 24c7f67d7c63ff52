"""Journal lines (coldbench.store.encode_journal_line, orjson) read back as the json encoder's."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from coldbench.sample import Sample
from coldbench.store import encode_journal_line

LOAD_SAMPLE = Sample(
    probe_id=1_000_000_007, target="nginx", scenario="rate-0", seq=7,
    started_at="2026-12-04T23:20:00.123456+00:00", latency_ms=0.0531, ttfb_ms=0.049,
    transfer_ms=0.0, status=200, bytes_read=2, fresh_connection=False, lag_ms=0.0031,
    service_ms=0.05, headers={"Server": "nginx/1.22.1", "Date": "Fri, 04 Dec 2026 23:20:00 GMT",
                              "Content-Type": "text/plain", "Content-Length": "2"},
)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["%s", "100%", '"q"', "é\n", "\x00", "\ud800"]))
headers = st.dictionaries(st.text(max_size=6), st.text(max_size=8), max_size=4)
FIELDS = [f.name for f in dataclasses.fields(Sample) if f.name != "headers"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=8), headers)
def test_lines_read_back_as_the_record(changes, header_values) -> None:
    sample = dataclasses.replace(LOAD_SAMPLE, headers=header_values, **changes)
    line = encode_journal_line(sample)  # lone surrogates (non-UTF-8 header bytes) included
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == json.loads(json.dumps(sample.to_record(), default=str))


def test_numpy_values_and_non_finite_floats() -> None:
    sample = dataclasses.replace(LOAD_SAMPLE, probe_id=np.int64(3), bytes_read=np.int32(2),
                                 latency_ms=np.float64(0.25), label_confidence=float("nan"))
    record = json.loads(encode_journal_line(sample))
    assert record["probe_id"] == 3 and record["bytes_read"] == 2 and record["latency_ms"] == 0.25
    assert record["label_confidence"] is None  # valid JSON: json would have written NaN
    assert not math.isnan(record["latency_ms"])


def test_a_load_sample_round_trips() -> None:
    line = encode_journal_line(LOAD_SAMPLE)
    assert line.endswith("}\n") and Sample.from_record(json.loads(line)) == LOAD_SAMPLE


def test_header_bytes_that_were_not_utf8_are_still_journaled() -> None:
    """The lean client decodes header bytes with surrogateescape; orjson refuses lone
    surrogates, so those lines are written by json (escaped), not lost."""
    sample = dataclasses.replace(LOAD_SAMPLE, headers={"X-Odd": b"caf\xe9".decode("utf-8", "surrogateescape")})
    line = encode_journal_line(sample)
    assert json.loads(line)["headers"]["X-Odd"] == "caf\udce9"
