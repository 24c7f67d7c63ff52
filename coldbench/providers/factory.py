"""Choosing a provider for a target."""

from __future__ import annotations

from coldbench.errors import ConfigError
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
