"""The sandbox server: public app on 127.0.0.1, sandbox endpoints, start-up and shutdown.

Sandbox endpoints (not part of AWS's API):

    GET  /_sandbox/health                   {"status": "ok", "tmp_isolation": ..., "functions": [...]}
    GET  /_sandbox/invocations              ground truth (truth.py): ?function= &since= &surface=
    GET  /_sandbox/instances                live then recently ended instances
    GET  /_sandbox/functions                effective settings of every function
    POST /_sandbox/functions/<name>/recycle     retire all instances (next requests are cold)
    POST /_sandbox/functions/<name>/settings    JSON of coldbench.toml keys; applies and recycles

`run_sandbox` prints one JSON line `{"url": ..., "pid": ..., "tmp_isolation": ...,
"functions": [...], "problems": [...]}` on stdout once provisioned instances and container
workers are ready, then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import asdict
from typing import Any

from aiohttp import web

from coldbench.errors import ConfigError
from coldbench.sandbox import control_api, invoke_api, url_api
from coldbench.sandbox.config import (
    FunctionSettings,
    SandboxSettings,
    apply_settings,
    load_functions,
)
from coldbench.sandbox.lambda_platform import Platform
from coldbench.sandbox.runtime_api import MAX_PAYLOAD_BYTES

HOST = "127.0.0.1"  # never anything else: the sandbox runs arbitrary code on request


def describe_settings(settings: FunctionSettings) -> dict[str, Any]:
    """Settings of one function as JSON-ready values."""
    described = asdict(settings)
    described["directory"] = str(settings.directory)
    described["keep_alive"] = settings.keep_alive.describe()
    return described


def build_app(platform: Platform) -> web.Application:
    """The public aiohttp app: function URLs, container mode, Lambda APIs, sandbox endpoints."""
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)
    url_api.add_routes(app, platform)
    invoke_api.add_routes(app, platform)
    control_api.add_routes(app, platform)

    async def health(request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", "pid": os.getpid(), "tmp_isolation": platform.tmp_mode,
                                  "functions": sorted(platform.pools), "containers": sorted(platform.containers)})

    async def invocations(request: web.Request) -> web.StreamResponse:
        query = request.query
        try:
            since = int(query.get("since", "0"))
        except ValueError:
            return web.json_response({"Message": "since must be an integer"}, status=400)
        return web.json_response(platform.truth.query(query.get("function"), since, query.get("surface")))

    async def instances(request: web.Request) -> web.StreamResponse:
        return web.json_response(platform.describe_instances())

    async def functions(request: web.Request) -> web.StreamResponse:
        return web.json_response({name: describe_settings(p.settings) for name, p in platform.pools.items()})

    async def recycle(request: web.Request) -> web.StreamResponse:
        pool = platform.pools.get(request.match_info["name"])
        if pool is None:
            return web.json_response({"Message": "function not found"}, status=404)
        pool.recycle()
        return web.json_response({"recycled": pool.settings.name, "generation": pool.generation})

    async def update(request: web.Request) -> web.StreamResponse:
        pool = platform.pools.get(request.match_info["name"])
        if pool is None:
            return web.json_response({"Message": "function not found"}, status=404)
        try:
            table = json.loads(await request.read() or b"{}")
            new = apply_settings(pool.settings, table, f"settings of {pool.settings.name}")
        except (ValueError, ConfigError) as exc:
            return web.json_response({"Message": str(exc)}, status=400)
        if "reserved_concurrency" in table:
            pool.reserved = new.reserved_concurrency
        pool.update_settings(new)
        if "provisioned" in table:
            pool.set_provisioned(new.provisioned)
        return web.json_response(describe_settings(pool.settings))

    app.router.add_get("/_sandbox/health", health)
    app.router.add_get("/_sandbox/invocations", invocations)
    app.router.add_get("/_sandbox/instances", instances)
    app.router.add_get("/_sandbox/functions", functions)
    app.router.add_post("/_sandbox/functions/{name}/recycle", recycle)
    app.router.add_post("/_sandbox/functions/{name}/settings", update)
    return app


async def serve(settings: SandboxSettings, stop: asyncio.Event, tmp_mode: str | None = None) -> None:
    """Run the sandbox until `stop` is set; print the ready line when serving."""
    functions = load_functions(settings)
    platform = Platform(settings, functions, tmp_mode)
    runner = web.AppRunner(build_app(platform), access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, settings.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(f"--port: cannot listen on {HOST}:{settings.port}: {exc.strerror}") from None
        problems = await platform.start()
        port = runner.addresses[0][1]
        ready = {"url": f"http://{HOST}:{port}", "pid": os.getpid(), "tmp_isolation": platform.tmp_mode,
                 "functions": sorted(functions), "problems": problems}
        print(json.dumps(ready), flush=True)
        for problem in problems:
            platform.warn(problem)
        await stop.wait()
    finally:
        await platform.stop()
        await runner.cleanup()


def run_sandbox(settings: SandboxSettings) -> int:
    """Run the sandbox in this process (uvloop) until SIGINT/SIGTERM; return the exit status."""
    import uvloop

    from coldbench.sandbox.launcher import probe_tmp_isolation

    tmp_mode = probe_tmp_isolation()  # forks: do it before the loop and its threads exist

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop, tmp_mode)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    sys.stdout.flush()
    return 0
