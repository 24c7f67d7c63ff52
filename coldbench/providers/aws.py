"""AWS Lambda through aiobotocore; also the local sandbox (same API, `endpoint_url`).

Credentials come only from the standard chain (environment, shared config/profile, instance
role) for AWS; the sandbox gets fixed dummy credentials, since it checks none. Forcing a cold
start changes an environment variable (`COLDBENCH_FORCE_COLD`) with UpdateFunctionConfiguration
and waits until `LastUpdateStatus` is Successful: all instances are recycled, so the next
invocation is cold. Provisioned concurrency is polled until READY.
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


class AwsLambdaProvider:
    """Lambda's control and invoke APIs via one aiobotocore client."""

    def __init__(self, *, region: str | None = None, profile: str | None = None,
                 endpoint_url: str | None = None, poll_interval_s: float = 1.0,
                 name: str = "aws") -> None:
        self.name = name
        self.region = region or "us-east-1"
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.poll_interval_s = poll_interval_s
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def _lambda(self) -> Any:
        if self._client is None:
            from aiobotocore.config import AioConfig
            from aiobotocore.session import get_session

            session = get_session()
            if self.profile:
                session.set_config_variable("profile", self.profile)
            kwargs: dict[str, Any] = {"region_name": self.region,
                                      "config": AioConfig(retries={"max_attempts": 2, "mode": "standard"},
                                                          read_timeout=900)}
            if self.endpoint_url:
                kwargs.update(endpoint_url=self.endpoint_url, aws_access_key_id="sandbox",
                              aws_secret_access_key="sandbox")
            self._stack = AsyncExitStack()
            self._client = await self._stack.enter_async_context(session.create_client("lambda", **kwargs))
        return self._client

    async def invoke(self, function: str, payload: bytes, *, qualifier: str | None = None,
                     log_tail: bool = True) -> InvokeResult:
        """Invoke synchronously (RequestResponse), with the last 4 KB of log when asked."""
        client = await self._lambda()
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

    async def force_cold(self, function: str) -> float:
        """Change an environment variable and wait for the update; return seconds taken."""
        client = await self._lambda()
        started = time.monotonic()
        current = await _call(client.get_function, function, FunctionName=function)
        variables = dict(current["Configuration"].get("Environment", {}).get("Variables", {}))
        variables[FORCE_COLD_VARIABLE] = uuid.uuid4().hex
        await _call(client.update_function_configuration, function, FunctionName=function,
                    Environment={"Variables": variables})
        await self._wait_updated(client, function)
        return time.monotonic() - started

    async def _wait_updated(self, client: Any, function: str, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            config = (await _call(client.get_function, function, FunctionName=function))["Configuration"]
            status = config.get("LastUpdateStatus", "Successful")
            if status == "Successful":
                return
            if status == "Failed":
                raise ProviderError(f"{function}: configuration update failed: "
                                    f"{config.get('LastUpdateStatusReason', 'no reason given')}")
            if time.monotonic() > deadline:
                raise ProviderError(f"{function}: configuration update not done after {timeout_s:g}s")
            await asyncio.sleep(self.poll_interval_s)

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
            response = await client.get_provisioned_concurrency_config(
                FunctionName=function, Qualifier=qualifier)
        except client.exceptions.ProvisionedConcurrencyConfigNotFoundException:
            return ProvisionedStatus(0, 0, 0, "NONE")
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

    async def describe(self, function: str) -> dict[str, Any]:
        """Runtime, memory, architecture, code size, region for the manifest."""
        client = await self._lambda()
        config = (await _call(client.get_function, function, FunctionName=function))["Configuration"]
        return {
            "provider": self.name, "region": self.region, "function": function,
            "runtime": config.get("Runtime"), "memory_mb": config.get("MemorySize"),
            "architectures": config.get("Architectures"), "code_size_bytes": config.get("CodeSize"),
            "timeout_s": config.get("Timeout"), "handler": config.get("Handler"),
        }

    async def close(self) -> None:
        """Close the client."""
        if self._stack is not None:
            await self._stack.aclose()
        self._stack = None
        self._client = None


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
