"""The subset of Lambda's control API that cold-start experiments need, in AWS's shapes.

    GET    /2015-03-31/functions/                               ListFunctions
    GET    /2015-03-31/functions/<name>                         GetFunction
    GET    /2015-03-31/functions/<name>/configuration           GetFunctionConfiguration
    PUT    /2015-03-31/functions/<name>/configuration           UpdateFunctionConfiguration
    PUT    /2017-10-31/functions/<name>/concurrency             PutFunctionConcurrency
    GET    /2019-09-30/functions/<name>/concurrency             GetFunctionConcurrency
    DELETE /2017-10-31/functions/<name>/concurrency             DeleteFunctionConcurrency
    PUT|GET|DELETE /2019-09-30/functions/<name>/provisioned-concurrency   ...ProvisionedConcurrencyConfig

UpdateFunctionConfiguration applies Environment (the whole variable map, as AWS),
MemorySize, Timeout and Handler, and recycles every instance, so the next invocations are cold
(the usual way to force cold starts). Updates complete at once (`LastUpdateStatus: Successful`).
Provisioned concurrency counts instances; the qualifier is accepted and ignored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from coldbench.errors import ConfigError
from coldbench.sandbox.config import FunctionSettings, apply_settings
from coldbench.sandbox.pool import FunctionPool
from coldbench.sandbox.shapes import api_error, function_arn, function_name_from, not_found

if TYPE_CHECKING:
    from coldbench.sandbox.lambda_platform import Platform

PoolHandler = Callable[[web.Request, FunctionPool], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, platform: Platform) -> None:
    """Register the control API routes on the public app."""

    def with_pool(handler: PoolHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            name = function_name_from(request.match_info["name"])
            pool = platform.pools.get(name)
            if pool is None:
                return _error(*not_found(f"Function not found: {function_arn(name)}"))
            try:
                return await handler(request, pool)
            except (ConfigError, ValueError, TypeError, KeyError) as exc:
                return _error(*api_error("InvalidParameterValueException", str(exc), 400))

        return route

    async def list_functions(request: web.Request) -> web.StreamResponse:
        return web.json_response({"Functions": [configuration(p) for p in platform.pools.values()]})

    router = app.router
    router.add_get("/2015-03-31/functions/", list_functions)
    router.add_get("/2015-03-31/functions", list_functions)
    router.add_get("/2015-03-31/functions/{name}", with_pool(get_function))
    router.add_get("/2015-03-31/functions/{name}/configuration", with_pool(get_configuration))
    router.add_put("/2015-03-31/functions/{name}/configuration", with_pool(update_configuration))
    router.add_put("/2017-10-31/functions/{name}/concurrency", with_pool(put_concurrency))
    router.add_get("/2019-09-30/functions/{name}/concurrency", with_pool(get_concurrency))
    router.add_delete("/2017-10-31/functions/{name}/concurrency", with_pool(delete_concurrency))
    router.add_put("/2019-09-30/functions/{name}/provisioned-concurrency", with_pool(put_provisioned))
    router.add_get("/2019-09-30/functions/{name}/provisioned-concurrency", with_pool(get_provisioned))
    router.add_delete("/2019-09-30/functions/{name}/provisioned-concurrency", with_pool(delete_provisioned))


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(timestamp))


def configuration(pool: FunctionPool) -> dict[str, Any]:
    """FunctionConfiguration of a function as AWS reports it."""
    settings = pool.settings
    return {
        "FunctionName": settings.name,
        "FunctionArn": function_arn(settings.name),
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/coldbench-sandbox",
        "Handler": settings.handler,
        "CodeSize": 0,
        "Description": "coldbench sandbox function",
        "Timeout": math.ceil(settings.timeout_s),  # AWS reports whole seconds
        "MemorySize": settings.memory_mb,
        "LastModified": _iso(pool.last_modified),
        "CodeSha256": "",
        "Version": "$LATEST",
        "Environment": {"Variables": dict(settings.environment)},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "RevisionId": f"{pool.generation}-{int(pool.last_modified * 1000)}",
    }


async def get_function(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """GetFunction."""
    body: dict[str, Any] = {"Configuration": configuration(pool), "Code": {"RepositoryType": "S3", "Location": ""}}
    if pool.reserved is not None:
        body["Concurrency"] = {"ReservedConcurrentExecutions": pool.reserved}
    return web.json_response(body)


async def get_configuration(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """GetFunctionConfiguration."""
    return web.json_response(configuration(pool))


def updated_settings(settings: FunctionSettings, body: dict[str, Any]) -> FunctionSettings:
    """Apply an UpdateFunctionConfiguration body to settings (validated like coldbench.toml)."""
    table: dict[str, Any] = {}
    if "MemorySize" in body:
        table["memory_mb"] = body["MemorySize"]
    if "Timeout" in body:
        table["timeout"] = body["Timeout"]
    if "Handler" in body:
        table["handler"] = body["Handler"]
    if "Environment" in body:
        table["environment"] = (body["Environment"] or {}).get("Variables") or {}
    return apply_settings(settings, table, "UpdateFunctionConfiguration")


async def update_configuration(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """UpdateFunctionConfiguration: apply, then recycle all instances."""
    pool.update_settings(updated_settings(pool.settings, await _json_body(request)))
    return web.json_response(configuration(pool))


async def put_concurrency(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """PutFunctionConcurrency: reserved concurrency caps in-flight invocations."""
    value = (await _json_body(request))["ReservedConcurrentExecutions"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("ReservedConcurrentExecutions must be an integer >= 0")
    pool.reserved = value
    return web.json_response({"ReservedConcurrentExecutions": value})


async def get_concurrency(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """GetFunctionConcurrency."""
    return web.json_response({} if pool.reserved is None else {"ReservedConcurrentExecutions": pool.reserved})


async def delete_concurrency(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """DeleteFunctionConcurrency."""
    pool.reserved = None
    return web.Response(status=204)


def provisioned_config(pool: FunctionPool) -> dict[str, Any]:
    """The provisioned-concurrency config of a function as AWS reports it."""
    requested, ready = pool.provisioned_counts()
    status = "READY" if ready >= requested else ("FAILED" if pool.provisioned_problem else "IN_PROGRESS")
    body: dict[str, Any] = {
        "RequestedProvisionedConcurrentExecutions": requested,
        "AllocatedProvisionedConcurrentExecutions": ready,
        "AvailableProvisionedConcurrentExecutions": ready,
        "Status": status,
        "LastModified": _iso(pool.last_modified),
    }
    if pool.provisioned_problem:
        body["StatusReason"] = pool.provisioned_problem
    return body


async def put_provisioned(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """PutProvisionedConcurrencyConfig: instances are initialised ahead (202, IN_PROGRESS)."""
    value = (await _json_body(request))["ProvisionedConcurrentExecutions"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("ProvisionedConcurrentExecutions must be an integer >= 1")
    pool.set_provisioned(value)
    return web.json_response(provisioned_config(pool), status=202)


async def get_provisioned(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """GetProvisionedConcurrencyConfig (404 when none is set)."""
    if pool.provisioned_target == 0:
        return _error(*api_error("ProvisionedConcurrencyConfigNotFoundException",
                                 "No Provisioned Concurrency Config found for this function", 404))
    return web.json_response(provisioned_config(pool))


async def delete_provisioned(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """DeleteProvisionedConcurrencyConfig: provisioned instances become ordinary ones."""
    pool.set_provisioned(0)
    return web.Response(status=204)


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = json.loads(await request.read() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


def _error(status: int, headers: dict[str, str], body: bytes) -> web.Response:
    return web.Response(status=status, headers=headers, body=body)
