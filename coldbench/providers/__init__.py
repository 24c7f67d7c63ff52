"""Control-plane adapters: what the labelling, forcing and warmer code may ask of a platform.

`build_provider(target, sandbox_url)` picks the implementation for a target: `aws` (aiobotocore
with the standard credential chain), `sandbox` (the same AWS client pointed at the local
sandbox's Lambda API), or `http` (no control plane: each operation says so).
"""

from __future__ import annotations

from coldbench.providers.base import InvokeResult, Provider, ProvisionedStatus
from coldbench.providers.factory import build_provider, describe_providers

__all__ = ["InvokeResult", "Provider", "ProvisionedStatus", "build_provider", "describe_providers"]
