"""Open loop with connection reuse: the connections its first requests need are opened before
the schedule starts, seen by a real loopback server, and never counted as requests."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest

from coldbench import load_run
from coldbench.load import PREOPEN_MAX_CONNECTIONS, compute_preopen_count
from coldbench.plan import LOAD_ID_BASE
from coldbench.runner import RunOptions, execute_run
from coldbench.store import load_manifest
from coldbench.suite import load_suite

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@dataclass
class LoggingServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 (its own thread and loop) that logs, in order,
    each connection it accepts ("open", n) and each request ("request", n). The first
    `close_first` connections are closed at once, as an idle timeout would close them."""

    close_first: int = 0
    events: list[tuple[str, int]] = field(default_factory=list)
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> LoggingServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(10), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            ready.set()
            async with server:
                await self._stop.wait()

        asyncio.run(main())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = sum(1 for kind, _ in self.events if kind == "open")
        self.events.append(("open", number))
        try:
            if number < self.close_first:
                return
            while True:
                await reader.readuntil(b"\r\n\r\n")  # GET: no body
                self.events.append(("request", number))
                writer.write(_RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def opened_before_first_request(self) -> int:
        kinds = [kind for kind, _ in self.events]
        return kinds.index("request") if "request" in kinds else len(kinds)

    def opens(self) -> int:
        return sum(1 for kind, _ in self.events if kind == "open")

    def requests(self) -> int:
        return sum(1 for kind, _ in self.events if kind == "request")


@pytest.fixture
def logging_server() -> Iterator[LoggingServer]:
    with LoggingServer() as server:
        yield server


RATE_SUITE = """
[suite]
name = "preopen"
[[targets]]
name = "logged"
url = "{url}/ok"
connection = "{connection}"
[[scenarios]]
type = "rate"
rate = 2000
duration = "0.25s"
max_concurrency = 40
"""


def _run_rate(server: LoggingServer, connection: str, write_suite, tmp_path):
    suite = load_suite(write_suite(RATE_SUITE.format(url=server.url, connection=connection)))
    outcome = execute_run(suite, RunOptions(out_dir=tmp_path / "run", quiet=True, workers=1))
    assert outcome.status == "complete"
    return load_run(outcome.run_dir), load_manifest(outcome.run_dir)["loads"][0]


def _assert_samples_unchanged(frame, record) -> None:
    """500 scheduled requests: 500 samples, ids LOAD_ID_BASE-based and seq 0..499, no errors."""
    assert record["scheduled"] == record["sent"] == len(frame) == 500
    assert sorted(frame["seq"]) == list(range(500))
    assert sorted(frame["probe_id"] - frame["probe_id"].min()) == list(range(500))
    assert frame["probe_id"].min() >= LOAD_ID_BASE
    assert frame["error"].isna().all() and (frame["status"] == 200).all()


def test_reuse_opens_the_first_connections_before_the_first_request(logging_server, write_suite,
                                                                     tmp_path) -> None:
    frame, record = _run_rate(logging_server, "reuse", write_suite, tmp_path)
    _assert_samples_unchanged(frame, record)
    # 2,000/s: 21 requests due in the first 10 ms (offsets 0, 0.5 ms, ... 10 ms), plus one (more
    # only if the first connection took over 5 ms; never more than max_concurrency).
    preopened = record["preopened_connections"]
    assert 22 <= preopened <= 40
    assert logging_server.opened_before_first_request() == preopened
    assert logging_server.requests() == 500  # the pre-opened connections carried no request
    first = frame[frame["seq"] < 21]  # never more in flight than connections waiting
    assert not first["fresh_connection"].any() and first["connect_ms"].isna().all()


def test_fresh_opens_nothing_ahead(logging_server, write_suite, tmp_path) -> None:
    frame, record = _run_rate(logging_server, "fresh", write_suite, tmp_path)
    _assert_samples_unchanged(frame, record)
    assert record["preopened_connections"] == 0
    per_connection = Counter(number for kind, number in logging_server.events if kind == "request")
    assert len(per_connection) == 500 and set(per_connection.values()) == {1}  # none idle ahead
    assert logging_server.opens() == 500 and frame["fresh_connection"].all()


def test_pre_opened_connections_the_server_closes_are_replaced(write_suite, tmp_path) -> None:
    """An idle timeout closes the pre-opened connections before the schedule: the requests open
    new ones and none fails (closed idle connections are dropped or retried once)."""
    with LoggingServer(close_first=22) as server:
        frame, record = _run_rate(server, "reuse", write_suite, tmp_path)
    _assert_samples_unchanged(frame, record)
    assert record["preopened_connections"] >= 22 and server.requests() == 500
    assert server.opened_before_first_request() >= 22


def test_preopen_count_follows_the_schedule_start() -> None:
    constant = np.arange(5000) / 5000.0  # 5,000/s
    assert compute_preopen_count(constant, 1000, 0.010) == 52  # 51 due in [0, 10 ms] + 1
    assert compute_preopen_count(constant, 8, 0.010) == 8  # the concurrency cap
    assert compute_preopen_count(constant, 1000, 0.100) == 502
    assert compute_preopen_count(np.arange(10) / 1.0, 1000, 0.010) == 2  # 1/s: one due, plus one
    assert compute_preopen_count(np.arange(10**6) / 1e6, 10**6, 0.010) == PREOPEN_MAX_CONNECTIONS
