"""Ground-truth evidence: REPORT lines, instrumented headers/bodies, the per-sample helper."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldbench.label.evidence import (
    Evidence,
    ReportLine,
    decode_log_result,
    find_report_line,
    header_value,
    label_sample_evidence,
    parse_headers_text,
    parse_report_line,
    read_instrumented_fields,
)

COLD_REPORT = (
    "REPORT RequestId: 3a1f6c2e-8d6b-4f7e-9a7b-1c2d3e4f5a6b\tDuration: 102.25 ms\t"
    "Billed Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 71 MB\t"
    "Init Duration: 143.13 ms\t"
)
WARM_REPORT = (
    "REPORT RequestId: 12345678-aaaa-bbbb-cccc-1234567890ab  Duration: 1.52 ms  "
    "Billed Duration: 2 ms  Memory Size: 512 MB  Max Memory Used: 80 MB"
)
SNAPSTART_REPORT = (
    "REPORT RequestId: r-1\tDuration: 684.06 ms\tBilled Duration: 1085 ms\tMemory Size: 1024 MB\t"
    "Max Memory Used: 184 MB\tRestore Duration: 575.38 ms\tBilled Restore Duration: 400 ms"
)


def test_parse_cold_report_line() -> None:
    report = parse_report_line(COLD_REPORT)
    assert report == ReportLine(
        request_id="3a1f6c2e-8d6b-4f7e-9a7b-1c2d3e4f5a6b", duration_ms=102.25,
        billed_duration_ms=103, memory_size_mb=128, max_memory_used_mb=71, init_duration_ms=143.13,
    )
    assert report.is_cold and report.platform_init_ms == 143.13


def test_parse_warm_report_line_space_separated() -> None:
    report = parse_report_line(WARM_REPORT)
    assert report.request_id == "12345678-aaaa-bbbb-cccc-1234567890ab"
    assert report.duration_ms == 1.52 and report.billed_duration_ms == 2
    assert not report.is_cold and report.platform_init_ms is None


def test_snapstart_restore_is_cold_and_billed_restore_kept_apart() -> None:
    report = parse_report_line(SNAPSTART_REPORT)
    assert report.restore_duration_ms == 575.38
    assert report.billed_restore_duration_ms == 400
    assert report.duration_ms == 684.06 and report.init_duration_ms is None
    assert report.is_cold and report.platform_init_ms == 575.38


def test_last_report_line_of_a_log_tail_wins_and_xray_suffix_is_ignored() -> None:
    tail = "\n".join([
        "START RequestId: a Version: $LATEST",
        "user says: REPORT is not a platform line",
        WARM_REPORT,
        "END RequestId: a",
        COLD_REPORT + "XRAY TraceId: 1-5e1b4151-5ac6c58f Sampled: true",
    ])
    assert find_report_line(tail).init_duration_ms == 143.13  # type: ignore[union-attr]


def test_sandbox_style_log_tail() -> None:
    # As coldbench.sandbox writes it: START, output, END, then REPORT with a trailing tab.
    text = ("START RequestId: abc Version: $LATEST\nhello\nEND RequestId: abc\n"
            "REPORT RequestId: abc\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB"
            "\tMax Memory Used: 40 MB\tInit Duration: 88.12 ms\t\n")
    encoded = base64.b64encode(text.encode()).decode()
    evidence = label_sample_evidence({"X-Amz-Log-Result": encoded}, None, None, set())
    assert (evidence.label, evidence.source, evidence.platform_init_ms) == ("cold", "platform", 88.12)


def test_json_log_format_platform_report() -> None:
    line = json.dumps({
        "time": "2024-01-01T00:00:00Z", "type": "platform.report",
        "record": {"requestId": "r-9", "metrics": {
            "durationMs": 3.5, "billedDurationMs": 4, "memorySizeMB": 128,
            "maxMemoryUsedMB": 60, "initDurationMs": 250.5}},
    })
    report = parse_report_line("some text\n" + line)
    assert report.request_id == "r-9" and report.init_duration_ms == 250.5 and report.is_cold


@pytest.mark.parametrize("text", ["", "START RequestId: x", "REPORT nothing here", "{not json"])
def test_no_report_line(text: str) -> None:
    assert find_report_line(text) is None
    with pytest.raises(ValueError):
        parse_report_line(text)


durations = st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda v: round(v, 2))


@given(duration=durations, billed=st.integers(0, 10**6), memory=st.integers(1, 10240),
       used=st.integers(0, 10240), init=st.none() | durations, sep=st.sampled_from(["\t", " ", "  "]))
def test_report_line_round_trip(duration, billed, memory, used, init, sep) -> None:
    fields = ["REPORT RequestId: abc-123", f"Duration: {duration} ms", f"Billed Duration: {billed} ms",
              f"Memory Size: {memory} MB", f"Max Memory Used: {used} MB"]
    if init is not None:
        fields.append(f"Init Duration: {init} ms")
    report = parse_report_line(sep.join(fields))
    assert (report.duration_ms, report.billed_duration_ms) == (duration, billed)
    assert (report.memory_size_mb, report.max_memory_used_mb) == (memory, used)
    assert report.init_duration_ms == init and report.is_cold == (init is not None)


def test_log_result_header_is_base64() -> None:
    encoded = base64.b64encode(("START\n" + COLD_REPORT + "\nEND\n").encode()).decode()
    assert "Init Duration" in (decode_log_result(encoded) or "")
    assert decode_log_result(COLD_REPORT) == COLD_REPORT  # plain text passes through
    assert decode_log_result(None) is None


def test_headers_match_case_insensitively() -> None:
    headers = {"x-coldbench-invocation": "1", "X-COLDBENCH-INSTANCE": "i-1", "x-Coldbench-Init-Ms": "12.5"}
    assert header_value(headers, "X-Coldbench-Invocation") == "1"
    fields = read_instrumented_fields(headers)
    assert (fields.instance_id, fields.invocation_n, fields.init_ms) == ("i-1", 1, 12.5)


@pytest.mark.parametrize("body", [
    {"coldbench": {"instance": "i-7", "invocation": 3, "init_ms": 40.0}},
    {"coldbench_instance": "i-7", "coldbench_invocation": "3", "coldbench_init_ms": "40"},
    {"statusCode": 200, "headers": {"X-Coldbench-Instance": "i-7", "X-Coldbench-Invocation": "3",
                                    "X-Coldbench-Init-Ms": "40"}},
    {"statusCode": 200, "body": json.dumps({"coldbench": {"instance_id": "i-7", "invocation_n": 3,
                                                         "init_ms": 40}})},
    {"coldbench_warmer": True, "instance": "i-7", "invocation": 3, "init_ms": 40.0},  # warmer reply
    json.dumps({"coldbench": {"instance": "i-7", "invocation": 3, "init_ms": 40}}),
])
def test_instrumented_fields_from_json_bodies(body: object) -> None:
    fields = read_instrumented_fields({}, body)
    assert (fields.instance_id, fields.invocation_n, fields.init_ms) == ("i-7", 3, 40.0)


def test_bare_names_outside_a_coldbench_object_are_not_read() -> None:
    fields = read_instrumented_fields({}, {"instance": "x", "invocation": 1})
    assert fields.instance_id is None and fields.invocation_n is None


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "abc", "", "nan"])
def test_invalid_invocation_counts_are_ignored(value: str) -> None:
    assert read_instrumented_fields({"X-Coldbench-Invocation": value}).invocation_n is None


def test_parse_headers_text_tolerates_garbage() -> None:
    assert parse_headers_text('{"A": "1"}') == {"A": "1"}
    assert parse_headers_text("not json") == {} and parse_headers_text(None) == {}
    assert parse_headers_text("[1, 2]") == {}


def test_evidence_ranking_platform_beats_instrumented_beats_instance() -> None:
    instrumented = {"X-Coldbench-Invocation": "1", "X-Coldbench-Instance": "i-1"}
    warm_log = base64.b64encode(WARM_REPORT.encode()).decode()
    # Provisioned concurrency: the function's first call, but the platform did no init in-line.
    evidence = label_sample_evidence({**instrumented, "X-Amz-Log-Result": warm_log}, None, None, set())
    assert (evidence.label, evidence.source) == ("warm", "platform")
    assert evidence.invocation_n == 1 and evidence.instance_id == "i-1"
    evidence = label_sample_evidence(instrumented, None, None, {"i-1"})
    assert (evidence.label, evidence.source) == ("cold", "instrumented")
    evidence = label_sample_evidence({"X-Coldbench-Instance": "i-1"}, None, None, {"i-1"})
    assert (evidence.label, evidence.source) == ("warm", "instance")
    evidence = label_sample_evidence({"X-Coldbench-Instance": "i-2"}, None, None, {"i-1"})
    assert (evidence.label, evidence.source) == ("cold", "instance")
    assert label_sample_evidence({}, None, None, set()) == Evidence()


def test_platform_evidence_from_an_explicit_log_tail() -> None:
    evidence = label_sample_evidence({}, None, COLD_REPORT, set())
    assert (evidence.label, evidence.source, evidence.confidence) == ("cold", "platform", 1.0)
    assert evidence.platform_init_ms == 143.13 and evidence.init_ms == 143.13
    assert evidence.billed_ms == 103


def test_function_init_preferred_over_platform_init_for_init_ms() -> None:
    evidence = label_sample_evidence({"X-Coldbench-Init-Ms": "90"}, None, COLD_REPORT, set())
    assert evidence.init_ms == 90 and evidence.platform_init_ms == 143.13


def test_seen_instances_is_not_modified() -> None:
    seen = frozenset({"a"})
    label_sample_evidence({"X-Coldbench-Instance": "b"}, None, None, seen)
    assert seen == {"a"}


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8),
       st.none() | st.text(max_size=200))
def test_helper_never_raises_on_arbitrary_input(headers: dict[str, str], log_tail: str | None) -> None:
    evidence = label_sample_evidence(headers, None, log_tail, set())
    assert evidence.label in ("cold", "warm", "unknown")
    assert evidence.source in ("platform", "instrumented", "instance", "none")


@pytest.mark.parametrize(("idle_ms", "expected"), [(None, "cold"), ("3.2", "cold"), ("499.9", "cold"),
                                                   ("500", "warm"), ("86400000", "warm")])
def test_a_first_invocation_the_instance_waited_for_is_warm(idle_ms: str | None, expected: str) -> None:
    """Invocation 1 is cold unless the initialised instance waited >= 0.5 s for it (provisioned
    concurrency): that request did not wait for init."""
    headers = {"X-Coldbench-Instance": "i-1", "X-Coldbench-Invocation": "1"}
    if idle_ms is not None:
        headers["X-Coldbench-Ready-Idle-Ms"] = idle_ms
    evidence = label_sample_evidence(headers, None, None, frozenset())
    assert (evidence.label, evidence.source) == (expected, "instrumented")
