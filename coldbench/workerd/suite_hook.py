"""Starting workerd for a suite run: the `[workerd]` table and the `${workerd}` URL placeholders.

    [workerd]
    script = "functions/hello-worker/worker.js"   # relative to the suite file
    keep_alive = "4s"                             # on-demand socket: new isolate after this idle

    [[targets]]
    url = "${workerd}/"              # the worker's one isolate (made when workerd starts)
    [[targets]]
    url = "${workerd_ondemand}/"     # a new isolate after keep_alive idle (config.py)

The runner calls `prepare_workerd_suite` before planning (a suite whose workerd cannot run here,
e.g. no Node.js, loses its workerd targets with one warning instead of failing) and
`workerd_for` around the engine, then `resolve_workerd_urls`. Until suite.py accepts a
`[workerd]` table, `coldbench.workerd.demo` starts workerd itself and passes the URLs as
environment variables.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from coldbench.errors import ConfigError
from coldbench.suite import Suite
from coldbench.units import parse_duration_s
from coldbench.workerd.config import COMPATIBILITY_DATE
from coldbench.workerd.install import ensure_workerd
from coldbench.workerd.process import WorkerdProcess

WORKERD_PLACEHOLDER = "${workerd}"
ONDEMAND_PLACEHOLDER = "${workerd_ondemand}"
_KEYS = ("script", "keep_alive", "port", "ondemand_port", "max_isolates", "compatibility_date")


def build_workerd_options(table: dict[str, Any], suite_dir: Path) -> dict[str, Any]:
    """WorkerdProcess keyword arguments from a `[workerd]` table (ConfigError names the key)."""
    for key in table:
        if key not in _KEYS:
            raise ConfigError(f"[workerd].{key}: unknown key; valid keys: {', '.join(_KEYS)}")
    if "script" not in table or not isinstance(table["script"], str):
        raise ConfigError('[workerd].script: missing; e.g. script = "functions/hello-worker/worker.js"')
    script = Path(table["script"])
    options: dict[str, Any] = {
        "script": script if script.is_absolute() else suite_dir / script,
        "keep_alive_s": parse_duration_s(table.get("keep_alive", 0), "[workerd].keep_alive"),
        "compatibility_date": str(table.get("compatibility_date", COMPATIBILITY_DATE)),
    }
    for key in ("port", "ondemand_port", "max_isolates"):
        if key in table:
            if isinstance(table[key], bool) or not isinstance(table[key], int):
                raise ConfigError(f"[workerd].{key}: expected an integer, got {table[key]!r}")
            options[key] = table[key]
    return options


def uses_workerd(url: str) -> bool:
    """Whether a target URL points at the suite's workerd."""
    return url.startswith((WORKERD_PLACEHOLDER, ONDEMAND_PLACEHOLDER))


def drop_workerd_targets(suite: Suite) -> Suite:
    """The suite without its workerd targets (and without scenarios left with no target)."""
    dropped = {t.name for t in suite.targets if uses_workerd(t.url)}
    scenarios = tuple(dataclasses.replace(s, targets=tuple(t for t in s.targets if t not in dropped))
                      for s in suite.scenarios)
    return dataclasses.replace(suite, targets=tuple(t for t in suite.targets if t.name not in dropped),
                               scenarios=tuple(s for s in scenarios if s.targets))


def prepare_workerd_suite(suite: Suite) -> tuple[Suite, list[str]]:
    """Before planning: keep the workerd targets if workerd can run here, else drop them and
    say why (returned as warnings). A suite without `[workerd]` is returned unchanged."""
    if "workerd" not in suite.tables:
        if any(uses_workerd(t.url) for t in suite.targets):
            raise ConfigError(f"{suite.path}: a target uses ${{workerd}} but the suite has no [workerd] table")
        return suite, []
    build_workerd_options(suite.tables["workerd"], Path(suite.path).resolve().parent)
    reasons: list[str] = []
    if ensure_workerd(explain=reasons.append) is not None:
        return suite, []
    names = ", ".join(t.name for t in suite.targets if uses_workerd(t.url))
    return drop_workerd_targets(suite), [f"workerd targets skipped ({names}): {reasons[0]}"]


@contextlib.asynccontextmanager
async def workerd_for(suite: Suite, run_dir: Path) -> AsyncIterator[WorkerdProcess | None]:
    """Run the suite's workerd (if it has a `[workerd]` table and workerd targets) meanwhile."""
    table = suite.tables.get("workerd")
    if table is None or not any(uses_workerd(t.url) for t in suite.targets):
        yield None
        return
    options = build_workerd_options(table, Path(suite.path).resolve().parent)
    async with WorkerdProcess(log_path=run_dir / "workerd.log", **options) as workerd:
        yield workerd


def workerd_urls(workerd: WorkerdProcess) -> dict[str, str]:
    """Placeholder → URL of the running workerd (what `--workers` processes resolve too)."""
    return {ONDEMAND_PLACEHOLDER: workerd.ondemand_url, WORKERD_PLACEHOLDER: workerd.url}


def resolve_placeholders(suite: Suite, urls: dict[str, str]) -> Suite:
    """Replace each placeholder of `urls` in target URLs, in the mapping's order."""
    def resolve(url: str) -> str:
        for placeholder, value in urls.items():
            url = url.replace(placeholder, value)
        return url

    targets = tuple(dataclasses.replace(t, url=resolve(t.url)) for t in suite.targets)
    return dataclasses.replace(suite, targets=targets)


def resolve_workerd_urls(suite: Suite, workerd: WorkerdProcess) -> Suite:
    """Replace `${workerd_ondemand}` and `${workerd}` in target URLs with the running workerd's."""
    return resolve_placeholders(suite, workerd_urls(workerd))
