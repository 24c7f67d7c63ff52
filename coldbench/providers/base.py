"""The provider protocol and the records it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from coldbench.errors import ProviderError


@dataclass(frozen=True, slots=True)
class InvokeResult:
    """One invocation through a platform API (not HTTP): status, payload, decoded log tail."""

    status: int
    payload: bytes
    log_tail: str | None = None
    function_error: str | None = None
    executed_version: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProvisionedStatus:
    """Provisioned concurrency of one function qualifier."""

    requested: int
    allocated: int
    available: int
    status: str  # IN_PROGRESS | READY | FAILED | NONE
    seconds_to_ready: float | None = None


class Provider(Protocol):
    """What coldbench asks of a platform's control plane."""

    name: str

    async def invoke(self, function: str, payload: bytes, *, qualifier: str | None = None,
                     log_tail: bool = True) -> InvokeResult:
        """Invoke through the platform API with the log tail when asked."""
        ...

    async def force_cold(self, function: str) -> float:
        """Make the next invocation cold (e.g. an environment change); return seconds it took."""
        ...

    async def set_provisioned(self, function: str, qualifier: str, count: int,
                              timeout_s: float = 900.0) -> ProvisionedStatus:
        """Set provisioned/minimum instances and wait until ready."""
        ...

    async def clear_provisioned(self, function: str, qualifier: str) -> None:
        """Remove provisioned/minimum instances."""
        ...

    async def describe(self, function: str) -> dict[str, Any]:
        """Runtime, memory, region, architecture, package size... for the run manifest."""
        ...

    async def close(self) -> None:
        """Release clients and connections."""
        ...


class HttpProvider:
    """A plain HTTP endpoint: no control plane. Every operation explains what is missing."""

    name = "http"

    def __init__(self, target_name: str) -> None:
        self.target_name = target_name

    def _missing(self, operation: str) -> ProviderError:
        return ProviderError(
            f"target {self.target_name!r} is a plain HTTP endpoint (provider = \"http\"): it has no "
            f"control plane to {operation}; set provider = \"aws\" or \"sandbox\" and function = ..."
        )

    async def invoke(self, function: str, payload: bytes, *, qualifier: str | None = None,
                     log_tail: bool = True) -> InvokeResult:
        """Not available over plain HTTP."""
        raise self._missing("invoke through an API")

    async def force_cold(self, function: str) -> float:
        """Not available over plain HTTP."""
        raise self._missing("force a cold start")

    async def set_provisioned(self, function: str, qualifier: str, count: int,
                              timeout_s: float = 900.0) -> ProvisionedStatus:
        """Not available over plain HTTP."""
        raise self._missing("set provisioned concurrency")

    async def clear_provisioned(self, function: str, qualifier: str) -> None:
        """Not available over plain HTTP."""
        raise self._missing("clear provisioned concurrency")

    async def describe(self, function: str) -> dict[str, Any]:
        """Nothing is known beyond the URL."""
        return {"provider": "http"}

    async def close(self) -> None:
        """Nothing to release."""
