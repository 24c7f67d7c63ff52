"""Every fault of coldbench.testing.fault_server, sent through the real probe, becomes a sample
with its documented error kind; a run with faulty targets completes and spares the healthy one."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvloop

from coldbench.errorkinds import ERROR_KINDS
from coldbench.probe import ProbeContext, build_session, send_probe
from coldbench.runner import RunOptions, execute_run
from coldbench.sample import Sample
from coldbench.suite import TargetSpec, load_suite
from coldbench.testing import fault_server

TIMEOUT_S = 1.0

FAULT_MODES = fault_server.EXPECTED_ERROR_KINDS


def probe_once(url: str, *, max_body_bytes: int = 1 << 20, connection: str = "fresh") -> Sample:
    """Send one probe through the real probe path (uvloop, as in a run) and return its sample."""
    target = TargetSpec(name="fault", url=url, timeout_s=TIMEOUT_S, max_body_bytes=max_body_bytes)

    async def go() -> Sample:
        async with build_session(connection, target) as session:
            outcome = await send_probe(session, target, ProbeContext(0, "fault", "faults", 0))
        return outcome.sample

    return uvloop.run(go())


@pytest.mark.parametrize(("base", "path", "kind"), FAULT_MODES, ids=[f"{p}->{k}" for _, p, k in FAULT_MODES])
def test_fault_mode_yields_its_error_kind(faults, base, path, kind) -> None:
    if faults[base] is None:
        pytest.skip("no openssl: the TLS listener is off")
    sample = probe_once(faults[base] + path)
    assert kind in ERROR_KINDS
    assert sample.error == kind, sample.error_detail
    assert sample.latency_ms < TIMEOUT_S * 1000 * 3


def test_timeouts_end_at_the_target_timeout(faults) -> None:
    sample = probe_once(faults["url"] + "/hang-headers")
    assert TIMEOUT_S * 1000 * 0.9 <= sample.latency_ms < TIMEOUT_S * 1000 * 2
    assert sample.connect_ms is not None and sample.ttfb_ms is None


def test_body_faults_keep_the_status_that_arrived(faults) -> None:
    assert probe_once(faults["url"] + "/hang-body").status == 200
    assert probe_once(faults["url"] + "/reset-body").status == 200


def test_throttling_keeps_retry_after(faults) -> None:
    sample = probe_once(faults["url"] + "/429?retry_after=7")
    assert (sample.status, sample.headers.get("Retry-After")) == (429, "7")


def test_storm_cycles_through_5xx_codes(faults) -> None:
    statuses = {probe_once(faults["url"] + "/storm").status for _ in fault_server.STORM_CODES}
    assert statuses == set(fault_server.STORM_CODES)


def test_dns_failure_stays_local_and_fast(faults) -> None:
    sample = probe_once(faults["dns_url"] + "/")
    assert sample.error == "dns" and sample.latency_ms < 500


def test_short_drip_succeeds_slowly(faults) -> None:
    sample = probe_once(faults["url"] + "/drip?bytes_per_s=100&bytes=10")
    assert (sample.error, sample.bytes_read) == (None, 10)
    assert sample.transfer_ms is not None and sample.transfer_ms >= 80


def test_huge_body_stops_at_the_cap_as_too_large(faults) -> None:
    # Reading stops at max_body_bytes (the connection is dropped): a huge body never holds a
    # probe until its timeout, and the sample says the body was cut.
    sample = probe_once(faults["url"] + "/huge?mb=4", max_body_bytes=65536)
    assert (sample.error, sample.status, sample.bytes_read) == ("too_large", 200, 65536)


@pytest.mark.xfail(strict=True, reason="aiohttp 3.14 C parser stalls on a bad chunk after the headers "
                                       "(timeout_body); the pure-Python parser's error is unwrapped (client)")
def test_bad_chunk_is_a_payload_error(faults) -> None:
    assert probe_once(faults["url"] + "/bad-chunk").error == "payload"


def test_every_mode_is_documented() -> None:
    doc = fault_server.__doc__ or ""
    for path in fault_server.ROUTES:
        assert f"`{path}" in doc, path
    for _, _path, kind in FAULT_MODES:
        assert kind in doc


RUN_SUITE = """
[suite]
name = "faulty-and-healthy"
[[targets]]
name = "healthy"
url = "{echo}/ok"
timeout = "1s"
[[targets]]
name = "hang"
url = "{faults}/hang-headers"
timeout = "1s"
[[targets]]
name = "reset"
url = "{faults}/reset"
timeout = "1s"
[[targets]]
name = "storm"
url = "{faults}/storm"
timeout = "1s"
[[targets]]
name = "nowhere"
url = "{dns}/"
timeout = "1s"
[[scenarios]]
type = "warm"
count = 2
"""


def test_run_with_faulty_targets_completes_and_healthy_target_gets_all_samples(
    faults, echo_url, tmp_path: Path
) -> None:
    text = RUN_SUITE.format(echo=echo_url, faults=faults["url"], dns=faults["dns_url"])
    suite_path = tmp_path / "suite.toml"
    suite_path.write_text(text, encoding="utf-8")
    outcome = execute_run(load_suite(suite_path), RunOptions(out_dir=tmp_path / "run", quiet=True))
    frame = outcome.frame
    assert outcome.status == "complete"
    assert len(frame) == outcome.plan.probe_count == 5 * 3
    healthy = frame[frame["target"] == "healthy"]
    assert len(healthy) == 3 and healthy["error"].isna().all() and (healthy["status"] == 200).all()
    expected = {"hang": "timeout_headers", "reset": "reset", "storm": "http_5xx", "nowhere": "dns"}
    for target, kind in expected.items():
        assert frame.loc[frame["target"] == target, "error"].tolist() == [kind] * 3
