"""AWS Lambda through aiobotocore; also the local sandbox (same API, `endpoint_url`).

Credentials come only from the standard chain (environment, shared config/profile, instance
role) for AWS; the region and profile come from the suite's target, else from that chain too.
The sandbox gets fixed dummy credentials, since it checks none.

Two clients share one session: the invoke client never retries (a silent retry would add a
throttle's round trip to the measured latency and hide the 429), the control client retries
throttled control-plane calls. Forcing a cold start changes an environment variable
(`COLDBENCH_FORCE_COLD`) with UpdateFunctionConfiguration and waits with the `function_updated`
waiter until `LastUpdateStatus` is Successful: all instances of `$LATEST` are recycled, so the
next invocation is cold (published versions are immutable and are not affected). Provisioned
concurrency is polled until READY. Versions and aliases back function copies (copies.py).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

from coldbench.errors import ProviderError
from coldbench.providers.base import InvokeResult, ProvisionedStatus

FORCE_COLD_VARIABLE = "COLDBENCH_FORCE_COLD"
UPDATE_TIMEOUT_S = 300.0


class AwsLambdaProvider:
    """Lambda's control and invoke APIs via aiobotocore clients (created on first use)."""

    def __init__(self, *, region: str | None = None, profile: str | None = None,
                 endpoint_url: str | None = None, poll_interval_s: float = 1.0,
                 name: str = "aws") -> None:
        self.name = name
        self.region = region or ("us-east-1" if endpoint_url else None)
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.poll_interval_s = poll_interval_s
        self._stack: AsyncExitStack | None = None
        self._clients: dict[str, Any] = {}

    async def _lambda(self, purpose: str = "control") -> Any:
        """The client for `purpose` ("invoke": no retries; "control": standard retries)."""
        if purpose not in self._clients:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session
            from botocore.exceptions import BotoCoreError

            session = get_session()
            if self.profile:
                session.set_config_variable("profile", self.profile)
            retries = 0 if purpose == "invoke" else 4  # botocore's max_attempts counts retries
            kwargs: dict[str, Any] = {"region_name": self.region, "config": AioConfig(
                retries={"max_attempts": retries, "mode": "standard"}, read_timeout=900)}
            if self.endpoint_url:
                kwargs.update(endpoint_url=self.endpoint_url, aws_access_key_id="sandbox",
                              aws_secret_access_key="sandbox")
            self._stack = self._stack or AsyncExitStack()
            try:
                client = await self._stack.enter_async_context(session.create_client("lambda", **kwargs))
            except BotoCoreError as exc:  # no region, unknown profile, ...
                raise ProviderError(f"{self.name}: cannot create a Lambda client: {exc}; set region "
                                    "(and profile) on the target, or AWS_REGION / AWS_PROFILE") from None
            self._clients[purpose] = client
        return self._clients[purpose]

    async def invoke(self, function: str, payload: bytes, *, qualifier: str | None = None,
                     log_tail: bool = True) -> InvokeResult:
        """Invoke synchronously (RequestResponse), with the last 4 KB of log when asked."""
        client = await self._lambda("invoke")
        kwargs: dict[str, Any] = {"FunctionName": function, "Payload": payload,
                                  "LogType": "Tail" if log_tail else "None"}
        if qualifier:
            kwargs["Qualifier"] = qualifier
        response = await _call(client.invoke, function, **kwargs)
        body = await response["Payload"].read()
        tail = response.get("LogResult")
        return InvokeResult(
            status=int(response.get("StatusCode", 0)),
            payload=body,
            log_tail=base64.b64decode(tail).decode("utf-8", "replace") if tail else None,
            function_error=response.get("FunctionError"),
            executed_version=response.get("ExecutedVersion"),
            headers=dict(response.get("ResponseMetadata", {}).get("HTTPHeaders", {})),
        )

    async def get_configuration(self, function: str, qualifier: str | None = None) -> dict[str, Any]:
        """GetFunction's `Configuration` (of a version or alias when `qualifier` is given)."""
        client = await self._lambda()
        kwargs: dict[str, Any] = {"FunctionName": function}
        if qualifier:
            kwargs["Qualifier"] = qualifier
        return dict((await _call(client.get_function, function, **kwargs))["Configuration"])

    async def update_environment(self, function: str, changes: dict[str, str | None]) -> None:
        """Set (or, with None, remove) environment variables of `$LATEST`; wait until applied."""
        client = await self._lambda()
        await self.wait_updated(function)  # a second update during one in progress is refused
        current = await self.get_configuration(function)
        variables = dict(current.get("Environment", {}).get("Variables", {}))
        for key, value in changes.items():
            if value is None:
                variables.pop(key, None)
            else:
                variables[key] = value
        await _call(client.update_function_configuration, function, FunctionName=function,
                    Environment={"Variables": variables})
        await self.wait_updated(function)

    async def force_cold(self, function: str) -> float:
        """Change an environment variable and wait for the update; return seconds taken."""
        started = time.monotonic()
        await self.update_environment(function, {FORCE_COLD_VARIABLE: uuid.uuid4().hex})
        return time.monotonic() - started

    async def wait_updated(self, function: str, timeout_s: float = UPDATE_TIMEOUT_S) -> None:
        """Wait with the `function_updated` waiter until LastUpdateStatus is Successful."""
        from botocore.exceptions import WaiterError

        client = await self._lambda()
        delay_s = max(self.poll_interval_s, 0.01)
        config = {"Delay": delay_s, "MaxAttempts": max(1, int(timeout_s / delay_s))}
        try:
            await client.get_waiter("function_updated").wait(FunctionName=function, WaiterConfig=config)
        except WaiterError as exc:
            last = exc.last_response or {}
            if "Error" in last:  # the waiter's call itself failed (no such function, access denied)
                error = last["Error"]
                raise ProviderError(f"{function}: {error.get('Code', 'error')}: "
                                    f"{error.get('Message', '')}") from None
            reason = last.get("LastUpdateStatusReason") or exc.kwargs.get("reason", "waiter gave up")
            raise ProviderError(f"{function}: configuration update not Successful ({reason})") from None

    async def set_provisioned(self, function: str, qualifier: str, count: int,
                              timeout_s: float = 900.0) -> ProvisionedStatus:
        """Put provisioned concurrency and poll until READY (or FAILED/timeout)."""
        client = await self._lambda()
        started = time.monotonic()
        await _call(client.put_provisioned_concurrency_config, function, FunctionName=function,
                    Qualifier=qualifier, ProvisionedConcurrentExecutions=count)
        while True:
            status = await self.get_provisioned(function, qualifier)
            if status.status == "READY":
                return ProvisionedStatus(status.requested, status.allocated, status.available,
                                         "READY", time.monotonic() - started)
            if status.status == "FAILED":
                raise ProviderError(f"{function}:{qualifier}: provisioned concurrency FAILED")
            if time.monotonic() - started > timeout_s:
                raise ProviderError(f"{function}:{qualifier}: provisioned concurrency not READY "
                                    f"after {timeout_s:g}s")
            await asyncio.sleep(self.poll_interval_s)

    async def get_provisioned(self, function: str, qualifier: str) -> ProvisionedStatus:
        """Current provisioned concurrency of a qualifier (status NONE when there is none)."""
        client = await self._lambda()
        try:
            response = await _call(client.get_provisioned_concurrency_config, function,
                                   FunctionName=function, Qualifier=qualifier)
        except ProviderError as exc:
            if "ProvisionedConcurrencyConfigNotFoundException" in str(exc):
                return ProvisionedStatus(0, 0, 0, "NONE")
            raise
        return ProvisionedStatus(
            requested=int(response.get("RequestedProvisionedConcurrentExecutions", 0)),
            allocated=int(response.get("AllocatedProvisionedConcurrentExecutions", 0)),
            available=int(response.get("AvailableProvisionedConcurrentExecutions", 0)),
            status=str(response.get("Status", "NONE")),
        )

    async def clear_provisioned(self, function: str, qualifier: str) -> None:
        """Delete the qualifier's provisioned concurrency config."""
        client = await self._lambda()
        await _call(client.delete_provisioned_concurrency_config, function,
                    FunctionName=function, Qualifier=qualifier)

    async def publish_version(self, function: str, description: str = "") -> str:
        """Publish `$LATEST` as a new version; return its number (AWS returns the latest
        version unchanged when code and configuration did not change since it)."""
        client = await self._lambda()
        response = await _call(client.publish_version, function, FunctionName=function,
                               Description=description)
        return str(response["Version"])

    async def put_alias(self, function: str, alias: str, version: str) -> str:
        """Create alias `alias` → `version`, or repoint it if it exists; return its ARN."""
        client = await self._lambda()
        try:
            response = await _call(client.create_alias, function, FunctionName=function,
                                   Name=alias, FunctionVersion=version)
        except ProviderError as exc:
            if "ResourceConflictException" not in str(exc):
                raise
            response = await _call(client.update_alias, function, FunctionName=function,
                                   Name=alias, FunctionVersion=version)
        return str(response.get("AliasArn", ""))

    async def delete_alias(self, function: str, alias: str) -> None:
        """Delete an alias."""
        client = await self._lambda()
        await _call(client.delete_alias, function, FunctionName=function, Name=alias)

    async def delete_version(self, function: str, version: str) -> None:
        """Delete one published version (never `$LATEST`: that would delete the function)."""
        if not version or version == "$LATEST":
            raise ProviderError(f"{function}: refusing to delete version {version!r}")
        client = await self._lambda()
        await _call(client.delete_function, function, FunctionName=function, Qualifier=version)

    async def describe(self, function: str) -> dict[str, Any]:
        """Runtime, memory, architecture, code size, region for the manifest."""
        client = await self._lambda()
        config = await self.get_configuration(function)
        described = {
            "provider": self.name, "region": client.meta.region_name, "function": function,
            "runtime": config.get("Runtime"), "memory_mb": config.get("MemorySize"),
            "architectures": config.get("Architectures"), "code_size_bytes": config.get("CodeSize"),
            "timeout_s": config.get("Timeout"), "handler": config.get("Handler"),
            "package_type": config.get("PackageType"), "last_modified": config.get("LastModified"),
            "snap_start": (config.get("SnapStart") or {}).get("ApplyOn"),
            "layers": [layer.get("Arn") for layer in config.get("Layers", [])],
        }
        if self.endpoint_url:
            described["endpoint_url"] = self.endpoint_url
        return described

    async def close(self) -> None:
        """Close the clients."""
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._clients = {}


async def _call(method: Any, function: str, **kwargs: Any) -> Any:
    """Call a botocore operation; translate its errors into one-line ProviderErrors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return await method(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ProviderError(f"{function}: {error.get('Code', 'error')}: "
                            f"{error.get('Message', str(exc))}") from None
    except BotoCoreError as exc:
        raise ProviderError(f"{function}: {exc}") from None
