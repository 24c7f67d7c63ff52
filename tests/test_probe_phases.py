"""Phase timings on real loopback servers: connect and TLS timed apart, reuse skips both."""

from __future__ import annotations

import shutil

import pytest
import uvloop

from coldbench.probe import ProbeContext, build_session, send_probe
from coldbench.suite import TargetSpec
from coldbench.testing.childproc import ServerProcess


async def _probe_twice(target: TargetSpec):
    session = build_session(target.connection, target)
    try:
        first = await send_probe(session, target, ProbeContext(0, target.name, "s", 0))
        second = await send_probe(session, target, ProbeContext(1, target.name, "s", 1))
    finally:
        await session.close()
    return first.sample, second.sample


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
def test_tls_is_timed_apart_from_tcp_connect() -> None:
    with ServerProcess("coldbench.testing.echo_server", ["--tls"]) as server:
        fresh = TargetSpec(name="tls", url=server.url + "/ok", options=(("tls_verify", False),))
        reuse = TargetSpec(name="tls", url=server.url + "/ok", connection="reuse",
                           options=(("tls_verify", False),))
        a, b = uvloop.run(_probe_twice(fresh))
        c, d = uvloop.run(_probe_twice(reuse))
    for sample in (a, b, c):
        assert sample.error is None and sample.status == 200
        assert sample.connect_ms is not None and sample.connect_ms > 0
        assert sample.tls_ms is not None and sample.tls_ms > 0  # handshake measured on its own
        assert sample.connect_ms + sample.tls_ms + sample.ttfb_ms <= sample.latency_ms
    assert b.fresh_connection  # fresh mode: a new handshake every time
    assert d.error is None and not d.fresh_connection and d.connect_ms is None and d.tls_ms is None


def test_plain_http_has_no_tls_phase(echo_url) -> None:
    target = TargetSpec(name="plain", url=echo_url + "/sleep?ms=20")
    first, _ = uvloop.run(_probe_twice(target))
    assert first.tls_ms is None and first.connect_ms is not None
    assert 20.0 <= first.ttfb_ms < first.latency_ms
    assert first.transfer_ms is not None and first.transfer_ms >= 0


def test_tls_verification_failure_is_a_tls_error() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command for a test certificate")
    with ServerProcess("coldbench.testing.echo_server", ["--tls"]) as server:
        target = TargetSpec(name="strict", url=server.url + "/ok")  # verification on (default)
        first, _ = uvloop.run(_probe_twice(target))
    assert first.error == "tls" and first.status is None
