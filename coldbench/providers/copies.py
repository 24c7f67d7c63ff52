"""Function copies: N published versions, each behind an alias, for parallel idle-gap experiments.

A platform keeps warm instances per version, so N versions of one function are N independent
pools of instances: an idle-gap experiment can then measure N gaps at once (one per copy)
instead of one after another, as Shilkov's and SeBS's experiments do with many deployments.

Lambda publishes a new version only when code or configuration changed since the last one, so
each copy is preceded by an environment change (`COLDBENCH_COPY=<i>-<nonce>`); the variable is
removed from `$LATEST` afterwards (that last update recycles `$LATEST`'s instances). Copies are
probed through the Invoke API with `qualifier = "<alias>"` on the target.

    copies = await create_copies(provider, "hello", 4)
    targets = build_copy_targets(target, copies)     # hello#1 .. hello#4, qualifier = alias
    ...
    await delete_copies(provider, copies)

The sandbox implements PublishVersion, aliases and DeleteFunction(Qualifier) in its control API
(coldbench/sandbox/control_api.py); each version is a separate pool with its own instances.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from coldbench.errors import ProviderError
from coldbench.suite import TargetSpec

COPY_VARIABLE = "COLDBENCH_COPY"
DEFAULT_ALIAS_PREFIX = "coldbench-copy-"
MAX_COPIES = 100  # a guard against a typo publishing thousands of versions


@dataclass(frozen=True, slots=True)
class FunctionCopy:
    """One copy of a function: the version published for it and the alias naming it."""

    function: str
    index: int  # 1-based
    version: str
    alias: str

    @property
    def qualifier(self) -> str:
        """What to pass as Qualifier when invoking this copy."""
        return self.alias


class VersioningProvider(Protocol):
    """The provider operations copies need (AwsLambdaProvider has them)."""

    name: str

    async def update_environment(self, function: str, changes: dict[str, str | None]) -> None:
        """Set or remove environment variables of `$LATEST` and wait until applied."""
        ...

    async def publish_version(self, function: str, description: str = "") -> str:
        """Publish `$LATEST`; return the version number."""
        ...

    async def put_alias(self, function: str, alias: str, version: str) -> str:
        """Create or repoint an alias; return its ARN."""
        ...

    async def delete_alias(self, function: str, alias: str) -> None:
        """Delete an alias."""
        ...

    async def delete_version(self, function: str, version: str) -> None:
        """Delete a published version."""
        ...


def _versioning(provider: Any) -> VersioningProvider:
    needed = ("update_environment", "publish_version", "put_alias", "delete_alias", "delete_version")
    missing = [name for name in needed if not callable(getattr(provider, name, None))]
    if missing:
        raise ProviderError(f"provider {getattr(provider, 'name', provider)!r} cannot make function "
                            f"copies (no {', '.join(missing)}); use provider = \"aws\" or \"sandbox\"")
    return provider  # type: ignore[no-any-return]


def build_alias_names(count: int, prefix: str = DEFAULT_ALIAS_PREFIX) -> list[str]:
    """Alias names of `count` copies: prefix1 .. prefixN."""
    if not 1 <= count <= MAX_COPIES:
        raise ProviderError(f"copies: count must be between 1 and {MAX_COPIES}, got {count}")
    return [f"{prefix}{i}" for i in range(1, count + 1)]


async def create_copies(provider: Any, function: str, count: int, *,
                        alias_prefix: str = DEFAULT_ALIAS_PREFIX) -> list[FunctionCopy]:
    """Publish `count` versions of `function`, each behind an alias; return them in order."""
    versioning = _versioning(provider)
    copies: list[FunctionCopy] = []
    try:
        for index, alias in enumerate(build_alias_names(count, alias_prefix), start=1):
            nonce = f"{index}-{uuid.uuid4().hex[:12]}"
            await versioning.update_environment(function, {COPY_VARIABLE: nonce})
            version = await versioning.publish_version(function, f"coldbench copy {index} ({nonce})")
            await versioning.put_alias(function, alias, version)
            copies.append(FunctionCopy(function, index, version, alias))
    except ProviderError:
        await delete_copies(provider, copies)  # leave nothing half made behind
        raise
    await versioning.update_environment(function, {COPY_VARIABLE: None})
    return copies


async def delete_copies(provider: Any, copies: list[FunctionCopy]) -> list[str]:
    """Delete each copy's alias, then its version; return the problems (empty: all gone)."""
    versioning = _versioning(provider)
    problems: list[str] = []
    for copy in copies:
        for step in (lambda c=copy: versioning.delete_alias(c.function, c.alias),
                     lambda c=copy: versioning.delete_version(c.function, c.version)):
            try:
                await step()
            except ProviderError as exc:
                problems.append(str(exc))
    return problems


def build_copy_targets(target: TargetSpec, copies: list[FunctionCopy]) -> tuple[TargetSpec, ...]:
    """One Invoke-API target per copy: `<name>#<i>`, qualifier = the copy's alias."""
    built = []
    for copy in copies:
        options = {**dict(target.options), "qualifier": copy.qualifier, "invoke": True}
        labels = (*target.labels, ("copy", str(copy.index)), ("version", copy.version))
        built.append(dataclasses.replace(target, name=f"{target.name}#{copy.index}",
                                         function=copy.function, options=tuple(options.items()),
                                         labels=labels))
    return tuple(built)


def assign_gaps_to_copies(gaps_s: list[float], copies: int) -> list[list[float]]:
    """Deal gaps to `copies` lanes, longest first onto the least-loaded lane, so lanes end together."""
    lanes: list[list[float]] = [[] for _ in range(max(1, copies))]
    totals = [0.0] * len(lanes)
    for gap in sorted(gaps_s, reverse=True):
        lane = totals.index(min(totals))
        lanes[lane].append(gap)
        totals[lane] += gap
    return lanes
