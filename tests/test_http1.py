"""The lean HTTP/1.1 client (coldbench.http1 through coldbench.lean_probe) on real loopback
servers: every fault mode gives the aiohttp probe's error kind, phases are timed, framings
(Content-Length, chunked, close-delimited, gzip, 1xx, HEAD) parse, keep-alive reuses and fresh
does not, and the target receives the same request as from aiohttp."""

from __future__ import annotations

import asyncio
import gzip
import shutil
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from aiohttp import web

from coldbench.errorkinds import ERROR_KINDS
from coldbench.lean_probe import build_http1_client, send_http1_probe, uses_lean_client
from coldbench.probe import ProbeContext, build_session, send_probe
from coldbench.sample import Sample
from coldbench.suite import TargetSpec
from coldbench.testing import fault_server
from coldbench.testing.childproc import ServerProcess

TIMEOUT_S = 1.0

# /bad-chunk is a payload error here (llhttp rejects the chunk size at once).
FAULT_MODES = [*fault_server.EXPECTED_ERROR_KINDS, ("url", "/bad-chunk", "payload")]


def lean_probes(target: TargetSpec, count: int = 1) -> list[Sample]:
    """`count` probes in a row through one lean client (uvloop, as in a run)."""

    async def go() -> list[Sample]:
        client = build_http1_client(target, target.connection)
        try:
            return [(await send_http1_probe(client, target, ProbeContext(i, target.name, "s", i))).sample
                    for i in range(count)]
        finally:
            await client.close()

    return uvloop.run(go())


def aiohttp_probe(target: TargetSpec) -> Sample:
    async def go() -> Sample:
        async with build_session(target.connection, target) as session:
            return (await send_probe(session, target, ProbeContext(0, target.name, "s", 0))).sample

    return uvloop.run(go())


@pytest.mark.parametrize(("base", "path", "kind"), FAULT_MODES, ids=[f"{p}->{k}" for _, p, k in FAULT_MODES])
def test_fault_mode_yields_the_aiohttp_error_kind(faults, base, path, kind) -> None:
    if faults[base] is None:
        pytest.skip("no openssl: the TLS listener is off")
    [sample] = lean_probes(TargetSpec(name="fault", url=faults[base] + path, timeout_s=TIMEOUT_S))
    assert kind in ERROR_KINDS
    assert sample.error == kind, sample.error_detail
    assert sample.latency_ms < TIMEOUT_S * 1000 * 3


@pytest.mark.parametrize("path", ["/ok", "/hang-headers", "/hang-body", "/reset-body", "/wrong-length",
                                  "/status/404", "/429?retry_after=7", "/huge?mb=1"])
def test_failures_fill_the_same_fields_as_aiohttp(faults, path) -> None:
    target = TargetSpec(name="fault", url=faults["url"] + path, timeout_s=TIMEOUT_S, max_body_bytes=4096)
    [lean] = lean_probes(target)
    ref = aiohttp_probe(target)
    assert (lean.error, lean.status, lean.bytes_read) == (ref.error, ref.status, ref.bytes_read)
    for name in ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "transfer_ms", "error_detail"):
        assert (getattr(lean, name) is None) == (getattr(ref, name) is None), name
    assert lean.headers.keys() == ref.headers.keys()


def test_phases_add_up_and_reuse_skips_the_connect(echo_url) -> None:
    fresh = lean_probes(TargetSpec(name="t", url=echo_url + "/sleep?ms=20"), 2)
    reuse = lean_probes(TargetSpec(name="t", url=echo_url + "/sleep?ms=20", connection="reuse"), 3)
    for sample in fresh + reuse[:1]:
        assert sample.error is None and sample.fresh_connection
        assert sample.connect_ms is not None and sample.connect_ms > 0 and sample.tls_ms is None
        assert sample.dns_ms is None  # an IP literal needs no look-up (as in aiohttp)
    for sample in fresh + reuse:
        assert 20.0 <= sample.ttfb_ms < sample.latency_ms
        assert sample.transfer_ms is not None and sample.transfer_ms >= 0
        assert (sample.connect_ms or 0) + sample.ttfb_ms + sample.transfer_ms <= sample.latency_ms
    assert all(not s.fresh_connection and s.connect_ms is None for s in reuse[1:])


def test_a_host_name_is_looked_up_and_timed(echo_url) -> None:
    url = echo_url.replace("127.0.0.1", "localhost") + "/ok"
    [sample] = lean_probes(TargetSpec(name="t", url=url))
    assert sample.error is None, sample.error_detail
    assert sample.dns_ms is not None and sample.dns_ms >= 0


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
def test_tls_is_timed_apart_and_verified() -> None:
    with ServerProcess("coldbench.testing.echo_server", ["--tls"]) as server:
        options = (("tls_verify", False),)
        fresh = lean_probes(TargetSpec(name="tls", url=server.url + "/ok", options=options), 2)
        reuse = lean_probes(TargetSpec(name="tls", url=server.url + "/ok", connection="reuse",
                                       options=options), 2)
        [strict] = lean_probes(TargetSpec(name="tls", url=server.url + "/ok"))
    for sample in fresh + reuse[:1]:
        assert sample.error is None and sample.status == 200
        assert sample.connect_ms > 0 and sample.tls_ms is not None and sample.tls_ms > 0
    assert reuse[1].tls_ms is None and not reuse[1].fresh_connection
    assert strict.error == "tls" and strict.status is None


# -- framings, on a raw server whose answers are written byte by byte ---------------------------

Responder = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


class RawServer:
    """A raw HTTP/1.1 server on 127.0.0.1:0 for one test: records each request head and body and
    the number of connections, and answers with `respond`."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                if not await self.respond(head, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run_raw(respond: Responder, target_of: Callable[[str], TargetSpec], count: int = 1,
            pause_s: float = 0.0) -> tuple[list[Sample], RawServer]:
    """Serve with `respond`, send `count` lean probes to `target_of(base_url)`, `pause_s` apart."""
    raw = RawServer(respond)

    async def go() -> list[Sample]:
        async with raw as base:
            target = target_of(base)
            client = build_http1_client(target, target.connection)
            samples = []
            try:
                for i in range(count):
                    await asyncio.sleep(pause_s if i else 0.0)
                    samples.append((await send_http1_probe(client, target, ProbeContext(i, "t", "s", i))).sample)
                return samples
            finally:
                await client.close()

    return uvloop.run(go()), raw


def answer(data: bytes, keep: bool = True, pause_s: float = 0.0, split: int = 0) -> Responder:
    """A responder writing `data` (in two writes around `pause_s` when `split`)."""

    async def respond(_head: bytes, writer: asyncio.StreamWriter) -> bool:
        if split:
            writer.write(data[:split])
            await writer.drain()
            await asyncio.sleep(pause_s)
        writer.write(data[split:])
        await writer.drain()
        return keep

    return respond


def plain(url: str, **fields: object) -> TargetSpec:
    return TargetSpec(name="t", url=url + "/x", timeout_s=TIMEOUT_S, **fields)  # type: ignore[arg-type]


def test_chunked_body_in_pieces_is_read_whole() -> None:
    response = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                b"5\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\n\r\n")
    split = response.index(b"3\r\n")  # the head and the first chunk, then 30 ms, then the rest
    samples, raw = run_raw(answer(response, split=split, pause_s=0.03),
                           lambda u: plain(u, connection="reuse"), 2)
    assert [(s.status, s.error, s.bytes_read) for s in samples] == [(200, None, 8)] * 2
    assert samples[0].transfer_ms >= 25  # the second piece came 30 ms after the head
    assert raw.connections == 1  # a chunked answer keeps the connection


def test_close_delimited_body_ends_with_the_connection() -> None:
    response = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"
    samples, raw = run_raw(answer(response, keep=False), lambda u: plain(u, connection="reuse"), 2)
    assert [(s.error, s.bytes_read) for s in samples] == [(None, 13)] * 2
    assert raw.connections == 2 and all(s.fresh_connection for s in samples)


def test_gzip_body_is_decoded_as_aiohttp_does() -> None:
    body = gzip.compress(b"x" * 5000)
    response = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    [sample], _ = run_raw(answer(response), plain)
    assert (sample.error, sample.bytes_read) == (None, 5000)


def test_interim_100_continue_is_skipped() -> None:
    response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    [sample], _ = run_raw(answer(response), plain)
    assert (sample.status, sample.error, sample.bytes_read) == (201, None, 2)


def test_head_answer_has_no_body_despite_its_length() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
    samples, raw = run_raw(answer(response), lambda u: plain(u, method="HEAD", connection="reuse"), 2)
    assert [(s.status, s.error, s.bytes_read) for s in samples] == [(200, None, 0)] * 2
    assert raw.requests[0].startswith(b"HEAD /x HTTP/1.1\r\n")


def test_too_large_stops_reading_at_the_cap() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"y" * 100000
    [sample], _ = run_raw(answer(response), lambda u: plain(u, max_body_bytes=1000))
    assert (sample.status, sample.error, sample.bytes_read) == (200, "too_large", 1000)


def test_keep_alive_reuses_one_connection_and_fresh_opens_one_each() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    reuse, reuse_raw = run_raw(answer(ok), lambda u: plain(u, connection="reuse"), 5)
    fresh, fresh_raw = run_raw(answer(ok), plain, 5)
    assert reuse_raw.connections == 1 and [s.fresh_connection for s in reuse] == [True] + [False] * 4
    assert fresh_raw.connections == 5 and all(s.fresh_connection for s in fresh)
    assert all(b"connection: close" in r.lower() for r in fresh_raw.requests)
    assert not any(b"connection:" in r.lower() for r in reuse_raw.requests)


def test_a_stale_keep_alive_connection_is_retried_once_on_a_new_one() -> None:
    answered: list[int] = []

    async def respond(_head: bytes, writer: asyncio.StreamWriter) -> bool:
        if answered:  # the second request on this connection: gone, as after a server's idle timeout
            answered.clear()
            return False
        answered.append(1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    samples, raw = run_raw(respond, lambda u: plain(u, connection="reuse"), 2)
    assert [s.error for s in samples] == [None, None]
    assert samples[1].fresh_connection and raw.connections == 2


def test_a_keep_alive_connection_the_server_closed_while_idle_is_not_used() -> None:
    async def respond(_head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.01)
        return False  # closed 10 ms after answering, with no Connection: close (an idle timeout)

    samples, raw = run_raw(respond, lambda u: plain(u, connection="reuse"), 3, pause_s=0.2)
    assert [(s.error, s.fresh_connection) for s in samples] == [(None, True)] * 3
    assert raw.connections == 3 and len(raw.requests) == 3


def test_redirects_are_followed_and_303_turns_post_into_get() -> None:
    async def respond(head: bytes, writer: asyncio.StreamWriter) -> bool:
        if head.startswith(b"POST /x "):
            writer.write(b"HTTP/1.1 303 See Other\r\nLocation: /done\r\nContent-Length: 0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        return True

    [sample], raw = run_raw(respond, lambda u: plain(u, method="POST", body=b"hello", connection="reuse"))
    assert (sample.status, sample.error, sample.bytes_read) == (200, None, 4)
    assert raw.requests[0].startswith(b"POST /x ") and raw.requests[0].endswith(b"hello")
    assert raw.requests[1].startswith(b"GET /done ") and raw.connections == 1


def test_the_target_receives_the_same_request_as_from_aiohttp() -> None:
    raw = RawServer(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))

    async def both() -> None:
        async with raw as base:
            target = TargetSpec(
                name="t", url=base + "/path?q=1&r=%20", method="POST", body=b'{"k": 1}',
                connection="reuse",
                headers=(("Authorization", "Bearer t0ken"), ("content-type", "application/json")))
            client = build_http1_client(target, "reuse")
            await send_http1_probe(client, target, ProbeContext(0, "t", "s", 0))
            await client.close()
            async with build_session("reuse", target) as session:
                await send_probe(session, target, ProbeContext(1, "t", "s", 1))

    uvloop.run(both())

    def parts(request: bytes) -> tuple[bytes, set[bytes], bytes]:
        head, _, body = request.partition(b"\r\n\r\n")
        line, *fields = head.split(b"\r\n")
        return line, {f.lower() for f in fields}, body

    lean, ref = raw.requests
    assert parts(lean) == parts(ref)


# -- which requests use it -----------------------------------------------------------------------

def test_only_load_scenarios_on_plain_http_targets_use_the_lean_client() -> None:
    plain_target = TargetSpec(name="t", url="http://127.0.0.1:1/ok")
    assert all(uses_lean_client(plain_target, kind) for kind in ("closed", "rate", "warm"))
    assert not any(uses_lean_client(plain_target, kind) for kind in ("idle_gap", "burst", "config_update"))
    assert uses_lean_client(TargetSpec(name="t", url="https://example.com/"), "rate")
    assert not uses_lean_client(plain_target, "closed", "aiohttp")
    assert not uses_lean_client(TargetSpec(name="t", url="http://x/", options=(("client", "aiohttp"),)), "rate")
    assert not uses_lean_client(TargetSpec(name="t", url="http://x/", provider="sandbox"), "rate")
    assert not uses_lean_client(TargetSpec(name="t", url="http://user:pw@x/"), "rate")


def test_fault_modes_here_cover_the_fault_server() -> None:
    covered = {path.split("?")[0] for _, path, _ in FAULT_MODES}
    missing = set(fault_server.ROUTES) - covered - {"/ok", "/huge"}  # /ok and /huge: tests above
    assert not missing, missing


def test_an_aiohttp_server_streaming_chunks_is_read_whole() -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in (b"a" * 100, b"b" * 200, b"c" * 300):
            await response.write(piece)
            await asyncio.sleep(0.005)
        await response.write_eof()
        return response

    async def go() -> list[Sample]:
        app = web.Application()
        app.router.add_get("/stream", stream)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        target = TargetSpec(name="t", url=f"http://127.0.0.1:{port}/stream", connection="reuse")
        client = build_http1_client(target, "reuse")
        try:
            return [(await send_http1_probe(client, target, ProbeContext(i, "t", "s", i))).sample
                    for i in range(3)]
        finally:
            await client.close()
            await runner.cleanup()

    samples = uvloop.run(go())
    assert [(s.error, s.bytes_read) for s in samples] == [(None, 600)] * 3
    assert [s.fresh_connection for s in samples] == [True, False, False]


def test_the_client_key_is_checked_in_suites() -> None:
    from coldbench.errors import ConfigError
    from coldbench.suite import parse_suite

    text = '[[targets]]\nname = "t"\nurl = "http://x/"\n{target}\n[[scenarios]]\ntype = "warm"\n{scenario}\n'
    suite = parse_suite(text.format(target='client = "aiohttp"', scenario='client = "aiohttp"'))
    assert dict(suite.targets[0].options)["client"] == "aiohttp" and suite.scenarios[0].client == "aiohttp"
    with pytest.raises(ConfigError, match=r"targets\[t\]\.client"):
        parse_suite(text.format(target='client = "lean"', scenario=""))
    with pytest.raises(ConfigError, match=r"scenarios\[warm-0\]\.client"):
        parse_suite(text.format(target="", scenario='client = "curl"'))
