"""Function copies (published versions behind aliases) through the provider, against the sandbox."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from sandbox_helpers import FUNCTIONS_DIR, lambda_client, truth, with_provider

from coldbench.errors import ProviderError
from coldbench.providers.aws import AwsLambdaProvider
from coldbench.providers.base import HttpProvider
from coldbench.providers.copies import (
    COPY_VARIABLE,
    FunctionCopy,
    assign_gaps_to_copies,
    build_alias_names,
    build_copy_targets,
    create_copies,
    delete_copies,
)
from coldbench.sandbox import invoke_api
from coldbench.sandbox.process import SandboxProcess
from coldbench.suite import TargetSpec

T = TypeVar("T")
ROUTES_QUALIFIERS = "resolve_pool" in inspect.getsource(invoke_api)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    root = tmp_path_factory.mktemp("functions")
    for name in ("copied", "kept"):
        shutil.copytree(FUNCTIONS_DIR / "hello", root / name, ignore=shutil.ignore_patterns("__pycache__"))
    overrides = {name: {"keep_alive": "60s", "container_workers": 0} for name in ("copied", "kept")}
    with SandboxProcess(root, overrides) as process:
        yield process


def test_copies_are_distinct_versions_behind_aliases_and_are_deleted_cleanly(sandbox: SandboxProcess) -> None:
    client = lambda_client(sandbox.url)
    copies = with_provider(sandbox.url, lambda p: create_copies(p, "copied", 3))
    assert [c.alias for c in copies] == ["coldbench-copy-1", "coldbench-copy-2", "coldbench-copy-3"]
    assert [c.version for c in copies] == ["1", "2", "3"]
    aliases = {a["Name"]: a["FunctionVersion"] for a in client.list_aliases(FunctionName="copied")["Aliases"]}
    assert aliases == {c.alias: c.version for c in copies}
    marks = {client.get_function(FunctionName="copied", Qualifier=c.alias)["Configuration"]["Environment"]
             ["Variables"][COPY_VARIABLE] for c in copies}
    assert len(marks) == 3  # each version carries its own marker
    latest = client.get_function(FunctionName="copied")["Configuration"]
    assert latest["Version"] == "$LATEST" and COPY_VARIABLE not in latest["Environment"]["Variables"]

    problems = with_provider(sandbox.url, lambda p: delete_copies(p, copies))
    assert problems == []
    assert client.list_aliases(FunctionName="copied")["Aliases"] == []
    versions = client.list_versions_by_function(FunctionName="copied")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]


def test_publishing_unchanged_settings_returns_the_latest_version_as_aws_does(sandbox: SandboxProcess) -> None:
    client = lambda_client(sandbox.url)
    first = client.publish_version(FunctionName="kept")["Version"]
    assert client.publish_version(FunctionName="kept")["Version"] == first
    client.create_alias(FunctionName="kept", Name="pinned", FunctionVersion=first)
    try:
        with pytest.raises(ProviderError, match="ResourceConflictException"):
            with_provider(sandbox.url, lambda p: p.delete_version("kept", first))
        assert with_provider(sandbox.url, lambda p: p.put_alias("kept", "pinned", "$LATEST")).endswith(":pinned")
        assert client.get_alias(FunctionName="kept", Name="pinned")["FunctionVersion"] == "$LATEST"
    finally:
        client.delete_alias(FunctionName="kept", Name="pinned")
        client.delete_function(FunctionName="kept", Qualifier=first)


@pytest.mark.skipif(not ROUTES_QUALIFIERS, reason="sandbox invoke_api.py does not route qualifiers to "
                    "version pools yet (control_api.resolve_pool hook not applied)")
def test_each_copy_has_its_own_instances_by_ground_truth(sandbox: SandboxProcess) -> None:
    async def use(provider: AwsLambdaProvider) -> tuple[list[FunctionCopy], list[Any]]:
        copies = await create_copies(provider, "copied", 2, alias_prefix="gap-")
        try:
            calls = [(copies[0], 2), (copies[1], 1), (copies[0], 1)]
            results = [await provider.invoke("copied", b"{}", qualifier=c.alias)
                       for c, n in calls for _ in range(n)]
        finally:
            assert await delete_copies(provider, copies) == []
        return copies, results

    copies, results = with_provider(sandbox.url, use)
    assert [r.executed_version for r in results] == [copies[0].version] * 2 + [copies[1].version, copies[0].version]
    first = [(r["cold"], r["invocation_n"]) for r in truth(sandbox.url, f"copied:{copies[0].version}")]
    second = [(r["cold"], r["invocation_n"]) for r in truth(sandbox.url, f"copied:{copies[1].version}")]
    assert first == [(True, 1), (False, 2), (False, 3)]  # copy 2's cold start did not touch copy 1
    assert second == [(True, 1)]


def test_copy_targets_invoke_each_alias() -> None:
    target = TargetSpec(name="fn", url="", provider="aws", function="hello", labels=(("team", "x"),))
    copies = [FunctionCopy("hello", 1, "7", "a1"), FunctionCopy("hello", 2, "8", "a2")]
    built = build_copy_targets(target, copies)
    assert [t.name for t in built] == ["fn#1", "fn#2"]
    assert dict(built[1].options) == {"qualifier": "a2", "invoke": True}
    assert dict(built[0].labels) == {"team": "x", "copy": "1", "version": "7"}


def test_gaps_are_dealt_so_copies_finish_together() -> None:
    lanes = assign_gaps_to_copies([60.0, 1.0, 300.0, 10.0, 120.0, 30.0], 3)
    assert lanes == [[300.0], [120.0], [60.0, 30.0, 10.0, 1.0]]
    assert sorted(g for lane in lanes for g in lane) == [1.0, 10.0, 30.0, 60.0, 120.0, 300.0]


def test_plain_http_targets_and_silly_counts_are_refused() -> None:
    with pytest.raises(ProviderError, match="cannot make function copies"):
        asyncio.run(create_copies(HttpProvider("site"), "fn", 2))
    with pytest.raises(ProviderError, match="between 1 and 100"):
        build_alias_names(0)
