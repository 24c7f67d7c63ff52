"""Where each strategy runs: one function copy per strategy, so all run at the same time.

On the local sandbox the warmed function's directory is copied once per strategy (and once for
the calibration lane) into a temporary functions directory, as `<function>-<strategy>`, with
the suite's `[sandbox.overrides.<function>]` applied to every copy (container workers off
unless the override says otherwise: an always-on worker per copy would only burn CPU). The
sandbox's ground truth (`/_sandbox/invocations`, `/_sandbox/instances`) then labels every
request and names the provisioned instances.

Elsewhere (AWS, plain HTTP), each strategy names its own deployed copy with `url` (and
`function` for provisioned concurrency); a single strategy may use the target itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from coldbench.errors import ConfigError, TargetError
from coldbench.providers import build_provider
from coldbench.sample import Sample
from coldbench.suite import Suite, TargetSpec
from coldbench.warmer.config import LaneSpec, WarmerConfig
from coldbench.warmer.live import LiveLane
from coldbench.warmer.strategies import WarmAction

CALIBRATION = "calibration"
_FN_RE = re.compile(r"/fn/([A-Za-z0-9_-]+)")


def sandbox_function_of(target: TargetSpec) -> str:
    """The sandbox function a target calls (its `function`, else the /fn/<name> of its URL)."""
    if target.function:
        return target.function
    match = _FN_RE.search(target.url)
    if match is None:
        raise ConfigError(f"targets[{target.name}].function: missing; the warmer copies this "
                          "sandbox function once per strategy")
    return match.group(1)


def copy_name(function: str, lane: str) -> str:
    """The function name of one strategy's copy (a valid Lambda name)."""
    return f"{function[:22]}-{lane}"


def copy_url(target: TargetSpec, function: str, copy: str, sandbox_url: str) -> str:
    """The target's URL, pointed at the copy."""
    url = target.url.replace("${sandbox}", sandbox_url.rstrip("/"))
    if f"/fn/{function}" in url:
        return url.replace(f"/fn/{function}", f"/fn/{copy}", 1)
    return f"{sandbox_url.rstrip('/')}/fn/{copy}/"


@contextlib.asynccontextmanager
async def sandbox_copies(suite: Suite, function: str, lanes: list[str],
                         log_path: Path | None) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Start a sandbox holding one copy of `function` per lane; yield (url, lane → copy)."""
    from coldbench.sandbox.process import SandboxProcess

    table = dict(suite.sandbox or {})
    functions = Path(table.get("functions", "functions"))
    if not functions.is_absolute():
        functions = Path(suite.path).resolve().parent / functions
    source = functions / function
    if not source.is_dir():
        raise ConfigError(f"{suite.path}: sandbox.functions: no function directory {source}")
    override = dict((table.get("overrides") or {}).get(function) or {})
    copies = {lane: copy_name(function, lane) for lane in lanes}
    settings = {k: v for k, v in table.items() if k not in ("functions", "overrides", "port")}
    with tempfile.TemporaryDirectory(prefix="coldbench-warm-") as tmp:
        root = Path(tmp)
        for copy in copies.values():
            shutil.copytree(source, root / copy, ignore=shutil.ignore_patterns("__pycache__"))
        overrides = {copy: {"container_workers": 0, **override} for copy in copies.values()}
        async with SandboxProcess(root, overrides, settings=settings, log_path=log_path) as sandbox:
            yield sandbox.url, copies


def build_live_lanes(suite: Suite, config: WarmerConfig, arrivals_s: Any, duration_s: float,
                     sandbox_url: str | None, copies: dict[str, str],
                     deploys: bool = False) -> list[LiveLane]:
    """One LiveLane per strategy: its target URL, provider and planned actions."""
    target = suite.target(config.target)
    if dict(target.options).get("invoke"):
        raise ConfigError(f"{suite.path}: warmer.target: {target.name!r} is called through the Invoke "
                          "API; the warmer drives HTTP endpoints (use the function URL)")
    if sandbox_url is None and len(config.lanes) > 1:
        missing = [i for i, lane in enumerate(config.lanes) if lane.url is None]
        if missing:
            raise ConfigError(f"{suite.path}: warmer.strategies[{missing[0]}].url: missing; outside "
                              "the sandbox every strategy needs its own deployed copy (url, and "
                              "function for provisioned concurrency) so they can run at once")
    lanes = []
    for index, spec in enumerate(config.lanes):
        actions = spec.strategy.build_actions(arrivals_s, duration_s)
        lanes.append(_build_lane(suite, target, spec, index, actions, sandbox_url, copies, deploys))
    return lanes


def _build_lane(suite: Suite, target: TargetSpec, spec: LaneSpec, index: int,
                actions: tuple[WarmAction, ...], sandbox_url: str | None,
                copies: dict[str, str], deploys: bool = False) -> LiveLane:
    name = spec.strategy.name
    qualifier = spec.qualifier or str(dict(target.options).get("qualifier") or "live")
    function: str | None
    if sandbox_url is not None:
        function = copies[name]
        url = copy_url(target, sandbox_function_of(target), copies[name], sandbox_url)
        lane_target = dataclasses.replace(target, name=name, url=url, function=function,
                                          provider="sandbox")
    else:
        function = spec.function or target.function
        lane_target = dataclasses.replace(target, name=name, url=spec.url or target.url,
                                          function=function)
    needs_provider = deploys or any(a.kind == "provision" for a in actions)
    if needs_provider and (lane_target.provider == "http" or function is None):
        raise ConfigError(f"{suite.path}: warmer.strategies[{index}]: provisioned concurrency and "
                          "deploys need a target with provider = \"sandbox\" or \"aws\" and a "
                          "function")
    provider = build_provider(lane_target, sandbox_url) if needs_provider else None
    return LiveLane(index, spec.strategy, actions, lane_target, function, qualifier, provider)


def calibration_target(suite: Suite, config: WarmerConfig, sandbox_url: str,
                       copies: dict[str, str]) -> TargetSpec:
    """The target of the calibration lane (idle-gap probes on its own copy)."""
    target = suite.target(config.target)
    url = copy_url(target, sandbox_function_of(target), copies[CALIBRATION], sandbox_url)
    return dataclasses.replace(target, name=CALIBRATION, url=url)


async def fetch_json(url: str) -> Any:
    """GET a JSON document from the sandbox (TargetError if it does not answer)."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise TargetError(f"the sandbox did not answer {url}: {exc}") from None


async def fetch_provisioned_ids(sandbox_url: str, function: str) -> set[str]:
    """Ids of the function's instances the sandbox marks as provisioned (live or ended)."""
    found = await fetch_json(f"{sandbox_url}/_sandbox/instances")
    return {str(i["id"]) for i in found if i.get("function") == function and i.get("provisioned")}


async def fetch_truth(sandbox_url: str, function: str) -> dict[str, dict[str, Any]]:
    """The sandbox's invocation records of one function, by request id."""
    records = await fetch_json(f"{sandbox_url}/_sandbox/invocations?function={function}")
    return {str(r["request_id"]): r for r in records if r.get("request_id")}


def apply_truth(sample: Sample, truth: dict[str, dict[str, Any]]) -> Sample:
    """Label a sample from the platform's own record of its invocation (by request id).

    The platform knows what headers cannot show: the first invocation on a provisioned
    instance is warm although it is that instance's invocation 1.
    """
    request_id = next((v for k, v in sample.headers.items() if k.lower() == "x-amzn-requestid"), None)
    record = truth.get(str(request_id)) if request_id else None
    if record is None or record.get("instance_id") is None:
        return sample
    duration = record.get("duration_ms")
    return dataclasses.replace(
        sample, label="cold" if record.get("cold") else "warm", label_source="platform",
        label_confidence=1.0, instance_id=str(record["instance_id"]),
        invocation_n=record.get("invocation_n"),
        init_ms=record.get("init_ms") if record.get("cold") else None,
        billed_ms=float(math.ceil(duration)) if duration is not None else sample.billed_ms,
    )
