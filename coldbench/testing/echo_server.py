"""A plain always-on HTTP server on 127.0.0.1 for tests and benchmarks.

Routes: `/ok` (small JSON), `/sleep?ms=N` (answers after N ms), `/status/<code>`,
`/bytes/<n>` (n-byte body), `/stall-once?after=N&ms=M` (the N-th request freezes the
server for M ms), `/echo-headers` (reflects request headers). Run as `python -m coldbench.testing.echo_server [--port 0] [--tls]`; it prints
`{"url": ..., "pid": ...}` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from aiohttp import web


async def _ok(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _sleep(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("ms", "0")) / 1000.0)
    return web.json_response({"slept_ms": float(request.query.get("ms", "0"))})


async def _status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status")


async def _bytes(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * int(request.match_info["n"]))


async def _echo_headers(request: web.Request) -> web.Response:
    """Reflect the request's headers back (as X-Echo-* headers and a JSON body), as a careless
    debug endpoint would: the secret-redaction test's worst case."""
    echoed = {f"X-Echo-{k}": v for k, v in request.headers.items()}
    return web.json_response(dict(request.headers), headers=echoed)


_stall_state = {"count": 0}


async def _stall_once(request: web.Request) -> web.Response:
    """Answer at once, except that request number `after` freezes the whole server (its event
    loop) for `ms` milliseconds, as a GC pause or a stopped process would (wrk2's demo)."""
    _stall_state["count"] += 1
    if _stall_state["count"] == int(request.query.get("after", "1000")):
        time.sleep(float(request.query.get("ms", "1000")) / 1000.0)
    return web.Response(text="ok")


def build_app() -> web.Application:
    """The echo application (routes in the module docstring)."""
    app = web.Application()
    app.router.add_route("*", "/ok", _ok)
    app.router.add_route("*", "/sleep", _sleep)
    app.router.add_route("*", "/status/{code}", _status)
    app.router.add_route("*", "/bytes/{n}", _bytes)
    app.router.add_route("*", "/stall-once", _stall_once)
    app.router.add_route("*", "/echo-headers", _echo_headers)
    return app


async def serve(port: int, tls: bool = False) -> None:
    """Serve until cancelled; print the ready line first (with --tls: HTTPS, self-signed)."""
    context = None
    if tls:
        import tempfile
        from pathlib import Path

        from coldbench.testing.fault_server import build_self_signed_context

        # The context holds the key and certificate once built: the files need not outlive it.
        with tempfile.TemporaryDirectory(prefix="coldbench-echo-tls-") as cert_dir:
            context = build_self_signed_context(Path(cert_dir))
        if context is None:
            raise SystemExit("echo_server: --tls needs the openssl command")
    runner = web.AppRunner(build_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    await site.start()
    bound = runner.addresses[0][1]
    scheme = "https" if tls else "http"
    print(json.dumps({"url": f"{scheme}://127.0.0.1:{bound}", "pid": os.getpid()}), flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: serve on --port (0 = any free port)."""
    parser = argparse.ArgumentParser(prog="echo_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", action="store_true", help="HTTPS with a self-signed certificate")
    args = parser.parse_args(argv)
    from coldbench.testing.childproc import die_with_parent

    die_with_parent()
    try:
        import uvloop

        uvloop.run(serve(args.port, args.tls))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
