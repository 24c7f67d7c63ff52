"""Choosing a provider for a target."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from coldbench.errors import ConfigError, ProviderError
from coldbench.providers.aws import AwsLambdaProvider
from coldbench.providers.base import HttpProvider, Provider
from coldbench.suite import TargetSpec


def build_provider(target: TargetSpec, sandbox_url: str | None = None) -> Provider:
    """The provider a target names (`http`, `sandbox` or `aws`)."""
    options = dict(target.options)
    if target.provider == "http":
        return HttpProvider(target.name)
    if target.function is None:
        raise ConfigError(f"targets[{target.name}].function: missing; provider "
                          f"{target.provider!r} needs the function's name")
    if target.provider == "sandbox":
        if sandbox_url is None:
            raise ConfigError(f"targets[{target.name}].provider: \"sandbox\" needs a [sandbox] "
                              "section in the suite (or a running sandbox's URL)")
        return AwsLambdaProvider(endpoint_url=sandbox_url, poll_interval_s=0.05, name="sandbox")
    return AwsLambdaProvider(region=options.get("region"), profile=options.get("profile"))


async def describe_providers(targets: Iterable[TargetSpec],
                             sandbox_url: str | None = None) -> dict[str, dict[str, Any]]:
    """`describe()` of every target with a control plane, for the run manifest.

    A target whose platform cannot be asked (credentials, permissions) gets `{"error": ...}`
    instead: describing is never a reason to fail a run.
    """
    described: dict[str, dict[str, Any]] = {}
    for target in targets:
        if target.provider == "http":
            continue
        provider = build_provider(target, sandbox_url)
        try:
            described[target.name] = await provider.describe(target.function or target.name)
        except ProviderError as exc:
            described[target.name] = {"provider": target.provider, "error": str(exc)}
        finally:
            await provider.close()
    return described
