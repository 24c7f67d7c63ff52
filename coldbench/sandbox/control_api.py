"""The subset of Lambda's control API that cold-start experiments need, in AWS's shapes.

    GET    /2015-03-31/functions/                               ListFunctions
    GET    /2015-03-31/functions/<name>                         GetFunction
    GET    /2015-03-31/functions/<name>/configuration           GetFunctionConfiguration
    PUT    /2015-03-31/functions/<name>/configuration           UpdateFunctionConfiguration
    PUT    /2017-10-31/functions/<name>/concurrency             PutFunctionConcurrency
    GET    /2019-09-30/functions/<name>/concurrency             GetFunctionConcurrency
    DELETE /2017-10-31/functions/<name>/concurrency             DeleteFunctionConcurrency
    PUT|GET|DELETE /2019-09-30/functions/<name>/provisioned-concurrency   ...ProvisionedConcurrencyConfig
    POST|GET /2015-03-31/functions/<name>/versions                 PublishVersion, ListVersionsByFunction
    POST|GET /2015-03-31/functions/<name>/aliases                  CreateAlias, ListAliases
    GET|PUT|DELETE /2015-03-31/functions/<name>/aliases/<alias>    GetAlias, UpdateAlias, DeleteAlias
    DELETE /2015-03-31/functions/<name>?Qualifier=<version>        DeleteFunction (versions only)

UpdateFunctionConfiguration applies Environment (the whole variable map, as AWS),
MemorySize, Timeout and Handler, and recycles every instance, so the next invocations are cold
(the usual way to force cold starts). Updates complete at once (`LastUpdateStatus: Successful`).
Provisioned concurrency counts instances of the qualified version (an unknown qualifier means
`$LATEST`, as before versions existed).

Versions (function copies): PublishVersion snapshots the function's settings into a new pool
`<name>:<n>` with its own instances, keep-alive timers and ground truth (`function=<name>:<n>`
in /_sandbox/invocations); as on AWS, publishing unchanged settings returns the latest version.
An alias names a version. `resolve_pool` maps `name`, `name:qualifier`, an ARN or `?Qualifier=`
to the pool that serves it. Differences from AWS: a version's runtime sees
AWS_LAMBDA_FUNCTION_NAME=`<name>:<n>`; reserved concurrency is per version, not per function;
version pools have no container workers; aliases have no weighted routing.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from coldbench.errors import ConfigError
from coldbench.sandbox.config import FunctionSettings, apply_settings
from coldbench.sandbox.pool import FunctionPool
from coldbench.sandbox.shapes import api_error, function_arn, function_name_from, not_found

if TYPE_CHECKING:
    from coldbench.sandbox.lambda_platform import Platform

PoolHandler = Callable[[web.Request, FunctionPool], Awaitable[web.StreamResponse]]
LATEST = "$LATEST"


@dataclass
class FunctionVersions:
    """Published versions and aliases of every function (per sandbox app)."""

    counters: dict[str, int] = field(default_factory=dict)  # numbers are never reused
    sources: dict[str, FunctionSettings] = field(default_factory=dict)  # "name:n" -> $LATEST then
    aliases: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)

    def version_of(self, name: str, qualifier: str | None) -> str | None:
        """The version a qualifier names (an alias is followed); None for $LATEST/unknown."""
        if not qualifier or qualifier == LATEST:
            return None
        alias = self.aliases.get(name, {}).get(qualifier)
        version = alias["FunctionVersion"] if alias else qualifier
        return version if f"{name}:{version}" in self.sources else None


VERSIONS = web.AppKey("coldbench_function_versions", FunctionVersions)


def qualifier_from(identifier: str) -> str | None:
    """The qualifier in `name:qualifier` or a qualified ARN, else None."""
    parts = identifier.split(":")
    index = parts.index("function") + 1 if "function" in parts else 0
    return parts[index + 1] if len(parts) > index + 1 and parts[index + 1] else None


def resolve_pool(request: web.Request, platform: Platform) -> FunctionPool | None:
    """The pool serving the request's function and qualifier (path or `?Qualifier=`)."""
    identifier = request.match_info["name"]
    name = function_name_from(identifier)
    qualifier = request.query.get("Qualifier") or qualifier_from(identifier)
    versions = request.app.get(VERSIONS)
    version = versions.version_of(name, qualifier) if versions is not None else None
    return platform.pools.get(f"{name}:{version}" if version else name)


def executed_version(pool: FunctionPool) -> str:
    """The version a pool runs, as X-Amz-Executed-Version reports it."""
    return pool.settings.name.partition(":")[2] or LATEST


def add_routes(app: web.Application, platform: Platform) -> None:
    """Register the control API routes on the public app."""
    app[VERSIONS] = FunctionVersions()

    def with_pool(handler: PoolHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def route(request: web.Request) -> web.StreamResponse:
            pool = resolve_pool(request, platform)
            if pool is None:
                name = function_name_from(request.match_info["name"])
                return _error(*not_found(f"Function not found: {function_arn(name)}"))
            try:
                return await handler(request, pool)
            except (ConfigError, ValueError, TypeError, KeyError) as exc:
                return _error(*api_error("InvalidParameterValueException", str(exc), 400))

        return route

    async def list_functions(request: web.Request) -> web.StreamResponse:
        latest = [p for key, p in platform.pools.items() if ":" not in key]
        return web.json_response({"Functions": [configuration(p) for p in latest]})

    def versioned(handler: Callable[..., Awaitable[web.StreamResponse]]) -> PoolHandler:
        return lambda request, pool: handler(request, pool, platform)

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
    router.add_post("/2015-03-31/functions/{name}/versions", with_pool(versioned(publish_version)))
    router.add_get("/2015-03-31/functions/{name}/versions", with_pool(versioned(list_versions)))
    router.add_delete("/2015-03-31/functions/{name}", with_pool(versioned(delete_version)))
    router.add_post("/2015-03-31/functions/{name}/aliases", with_pool(create_alias))
    router.add_get("/2015-03-31/functions/{name}/aliases", with_pool(list_aliases))
    router.add_get("/2015-03-31/functions/{name}/aliases/{alias}", with_pool(get_alias))
    router.add_put("/2015-03-31/functions/{name}/aliases/{alias}", with_pool(update_alias))
    router.add_delete("/2015-03-31/functions/{name}/aliases/{alias}", with_pool(delete_alias))


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(timestamp))


def configuration(pool: FunctionPool) -> dict[str, Any]:
    """FunctionConfiguration of a function as AWS reports it."""
    settings = pool.settings
    return {
        "FunctionName": settings.name.partition(":")[0],
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
        "Version": executed_version(pool),
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


def _version_settings(settings: FunctionSettings, key: str) -> FunctionSettings:
    """What a published version runs: $LATEST's settings under `name:n`, nothing provisioned."""
    return replace(settings, name=key, provisioned=0, container_workers=0, reserved_concurrency=None)


async def publish_version(request: web.Request, pool: FunctionPool, platform: Platform) -> web.StreamResponse:
    """PublishVersion: a new pool with $LATEST's settings (unchanged settings: the latest one)."""
    versions, name = request.app[VERSIONS], pool.settings.name
    if ":" in name:
        raise ValueError("PublishVersion publishes $LATEST; give the function name without a qualifier")
    last = versions.counters.get(name, 0)
    if last and versions.sources.get(f"{name}:{last}") == pool.settings:
        return web.json_response(configuration(platform.pools[f"{name}:{last}"]), status=201)
    number = last + 1
    key = f"{name}:{number}"
    versions.counters[name] = number
    versions.sources[key] = pool.settings
    rng = random.Random(f"{platform.settings.seed}:{key}")
    platform.pools[key] = FunctionPool(_version_settings(pool.settings, key), platform, rng)
    return web.json_response(configuration(platform.pools[key]), status=201)


async def list_versions(request: web.Request, pool: FunctionPool, platform: Platform) -> web.StreamResponse:
    """ListVersionsByFunction: $LATEST, then the published versions in order."""
    name = pool.settings.name.partition(":")[0]
    keys = [name] + [k for k in request.app[VERSIONS].sources if k.partition(":")[0] == name]
    return web.json_response({"Versions": [configuration(platform.pools[k]) for k in keys if k in platform.pools]})


async def delete_version(request: web.Request, pool: FunctionPool, platform: Platform) -> web.StreamResponse:
    """DeleteFunction with a version qualifier: stop that version's instances and forget it."""
    versions, key = request.app[VERSIONS], pool.settings.name
    name, _, version = key.partition(":")
    if not version:
        raise ValueError("the sandbox deletes published versions only; give Qualifier=<version>")
    used_by = [a for a, cfg in versions.aliases.get(name, {}).items() if cfg["FunctionVersion"] == version]
    if used_by:
        return _error(*api_error("ResourceConflictException",
                                 f"Version {version} is referenced by alias {used_by[0]}", 409))
    pool.close()
    platform.pools.pop(key, None)
    versions.sources.pop(key, None)
    return web.Response(status=204)


def _alias_config(name: str, alias: str, table: dict[str, str]) -> dict[str, Any]:
    return {"AliasArn": f"{function_arn(name)}:{alias}", "Name": alias, **table,
            "RevisionId": f"{alias}-{table['FunctionVersion']}"}


def _checked_version(request: web.Request, name: str, version: Any) -> str:
    if not isinstance(version, str) or (version != LATEST and f"{name}:{version}" not in request.app[VERSIONS].sources):
        raise KeyError(f"FunctionVersion {version!r} of {name} does not exist")
    return version


async def create_alias(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """CreateAlias (409 ResourceConflictException if it exists)."""
    body, name = await _json_body(request), pool.settings.name.partition(":")[0]
    aliases = request.app[VERSIONS].aliases.setdefault(name, {})
    alias = str(body["Name"])
    if alias in aliases:
        return _error(*api_error("ResourceConflictException", f"Alias already exists: {function_arn(name)}:{alias}", 409))
    version = _checked_version(request, name, body.get("FunctionVersion"))
    aliases[alias] = {"FunctionVersion": version, "Description": str(body.get("Description", ""))}
    return web.json_response(_alias_config(name, alias, aliases[alias]), status=201)


def _alias_or_404(request: web.Request, pool: FunctionPool) -> tuple[str, dict[str, str] | None]:
    name = pool.settings.name.partition(":")[0]
    return name, request.app[VERSIONS].aliases.get(name, {}).get(request.match_info["alias"])


async def get_alias(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """GetAlias."""
    name, table = _alias_or_404(request, pool)
    if table is None:
        return _error(*not_found(f"Alias not found: {function_arn(name)}:{request.match_info['alias']}"))
    return web.json_response(_alias_config(name, request.match_info["alias"], table))


async def update_alias(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """UpdateAlias: point an existing alias at another version."""
    name, table = _alias_or_404(request, pool)
    if table is None:
        return _error(*not_found(f"Alias not found: {function_arn(name)}:{request.match_info['alias']}"))
    body = await _json_body(request)
    if "FunctionVersion" in body:
        table["FunctionVersion"] = _checked_version(request, name, body["FunctionVersion"])
    if "Description" in body:
        table["Description"] = str(body["Description"])
    return web.json_response(_alias_config(name, request.match_info["alias"], table))


async def delete_alias(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """DeleteAlias (204 even when it did not exist, as AWS)."""
    name = pool.settings.name.partition(":")[0]
    request.app[VERSIONS].aliases.get(name, {}).pop(request.match_info["alias"], None)
    return web.Response(status=204)


async def list_aliases(request: web.Request, pool: FunctionPool) -> web.StreamResponse:
    """ListAliases."""
    name = pool.settings.name.partition(":")[0]
    aliases = request.app[VERSIONS].aliases.get(name, {})
    return web.json_response({"Aliases": [_alias_config(name, a, t) for a, t in aliases.items()]})


async def _json_body(request: web.Request) -> dict[str, Any]:
    body = json.loads(await request.read() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    return body


def _error(status: int, headers: dict[str, str], body: bytes) -> web.Response:
    return web.Response(status=status, headers=headers, body=body)
