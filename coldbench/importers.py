"""Deployment tool outputs → suite targets, so nobody copies URLs by hand. Pure functions.

Sources (what each reads):
- Serverless Framework, `serverless info --verbose` text (v1–v4): the `endpoints:` section, both
  `GET - https://...` (API Gateway) and `name: https://...` (function URL) lines. Endpoints with
  path parameters (`/items/{id}`) are skipped: there is no URL to probe until one is filled in.
- CloudFormation / SAM stack outputs JSON: `aws cloudformation describe-stacks` (whole or
  `--query "Stacks[0].Outputs"`), `sam list stack-outputs --output json`, or a CDK
  `--outputs-file`. Every output whose value is an http(s) URL becomes a target.
- Terraform, `terraform output -json`: string outputs holding URLs, and lists/maps of them.

A URL that carries a secret (user info, or a query key such as `code`, `sig`, `token`), or a
Terraform output marked sensitive, is never written out: the target reads it from
`${env:COLDBENCH_<NAME>_URL}` instead, and `labels.url_from` says where to get the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from coldbench.errors import ConfigError
from coldbench.redact import redact_url
from coldbench.suite import ENV_RE

SOURCES = ("serverless", "cloudformation", "terraform")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_URL_RE = re.compile(r"^https?://\S+$")
_ENDPOINT_RE = re.compile(r"^(?:(?P<method>[A-Z]+)\s+-\s+|(?P<function>[\w.-]+):\s+)(?P<url>https?://\S+)$")
_HEADER_RE = re.compile(r"^(?P<key>[a-z][a-z ]*):\s*(?P<value>.*)$")
_REGION_RE = re.compile(r"\.((?:[a-z]{2}(?:-gov)?-[a-z]+-\d))\.")
TargetDict = dict[str, Any]


def parse_serverless_info(text: str) -> list[TargetDict]:
    """Targets from `serverless info --verbose` output (the `endpoints:` section)."""
    info, endpoints = _read_serverless_sections(_ANSI_RE.sub("", text))
    labels = {k: info[k] for k in ("service", "stage", "region") if info.get(k)}
    targets = []
    for line in endpoints:
        match = _ENDPOINT_RE.match(line)
        if match is None or "{" in match["url"]:
            continue
        name = match["function"] or _name_from_path(match["url"], info.get("stage"))
        method = "GET" if match["method"] in (None, "ANY") else match["method"]
        targets.append(_target(name, match["url"], method=method, source="serverless", extra=labels,
                               secret_hint=f"serverless info: endpoint {name}"))
    return _with_unique_names(targets)


def _read_serverless_sections(text: str) -> tuple[dict[str, str], list[str]]:
    """The top-level `key: value` lines and the lines of the `endpoints:` section."""
    info: dict[str, str] = {}
    endpoints: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if raw[:1].isspace():
            if section in ("endpoints", "endpoint"):
                endpoints.append(line)
            continue
        match = _HEADER_RE.match(line)
        section = match["key"] if match else ""
        if match and match["value"]:
            info.setdefault(match["key"], match["value"].strip())
            if section == "endpoint":  # a single endpoint is printed inline
                endpoints.append(match["value"].strip())
    return info, endpoints


def parse_stack_outputs(document: str | Any) -> list[TargetDict]:
    """Targets from CloudFormation/SAM stack outputs JSON (text or already parsed)."""
    data = _load_json(document)
    targets = []
    for stack, key, value, description in _iter_stack_outputs(data):
        if not isinstance(value, str) or not _URL_RE.match(value.strip()):
            continue
        extra = {"stack": stack} if stack else {}
        if description:
            extra["description"] = description
        targets.append(_target(_slug(key), value.strip(), source="cloudformation", extra=extra,
                               secret_hint=f"stack output {key}"))
    return _with_unique_names(targets)


def _iter_stack_outputs(data: Any) -> Iterable[tuple[str | None, str, Any, str | None]]:
    """(stack name, output key, value, description) from every supported shape."""
    if isinstance(data, dict) and isinstance(data.get("Stacks"), list):
        for stack in data["Stacks"]:
            if isinstance(stack, dict):
                for item in _output_items(stack.get("Outputs", [])):
                    yield (stack.get("StackName"), *item)
    elif isinstance(data, list):
        for item in _output_items(data):
            yield (None, *item)
    elif isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        for stack_name, outputs in data.items():  # CDK --outputs-file: {stack: {key: value}}
            for key, value in outputs.items():
                yield (stack_name, str(key), value, None)
    else:
        raise ConfigError("not CloudFormation stack outputs: expected describe-stacks JSON, "
                          "a list of {OutputKey, OutputValue}, or a CDK outputs file")


def _output_items(outputs: Any) -> Iterable[tuple[str, Any, str | None]]:
    if not isinstance(outputs, list):
        raise ConfigError("stack Outputs must be a list of {OutputKey, OutputValue}")
    for output in outputs:
        if not isinstance(output, dict) or "OutputKey" not in output or "OutputValue" not in output:
            raise ConfigError("each stack output needs OutputKey and OutputValue")
        yield str(output["OutputKey"]), output["OutputValue"], output.get("Description")


def parse_terraform_outputs(document: str | Any) -> list[TargetDict]:
    """Targets from `terraform output -json` (text or already parsed; a state file's
    `outputs` table is read too)."""
    data = _load_json(document)
    if isinstance(data, dict) and isinstance(data.get("outputs"), dict) and "version" in data:
        data = data["outputs"]
    if not isinstance(data, dict):
        raise ConfigError("not `terraform output -json` output: expected a JSON object of outputs")
    targets = []
    for output_name, output in data.items():
        if not isinstance(output, dict) or "value" not in output:
            raise ConfigError(f"terraform output {output_name!r} has no value")
        for suffix, url in _urls_in(output["value"]):
            name = _slug(f"{output_name}-{suffix}" if suffix else output_name)
            hint = f"terraform output -json {output_name}"
            targets.append(_target(name, url, source="terraform", extra={"output": output_name},
                                   secret=bool(output.get("sensitive")), secret_hint=hint))
    return _with_unique_names(targets)


def _urls_in(value: Any) -> list[tuple[str, str]]:
    """(name suffix, URL) for a string, list or map output value; non-URLs are ignored."""
    if isinstance(value, str):
        return [("", value.strip())] if _URL_RE.match(value.strip()) else []
    if isinstance(value, list):
        return [(str(i), v.strip()) for i, v in enumerate(value) if isinstance(v, str) and _URL_RE.match(v.strip())]
    if isinstance(value, dict):
        return [(str(k), v.strip()) for k, v in value.items() if isinstance(v, str) and _URL_RE.match(v.strip())]
    return []


def _load_json(document: str | Any) -> Any:
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError as exc:
        raise ConfigError(f"not valid JSON ({exc})") from None


def _target(name: str, url: str, *, source: str, method: str = "GET", extra: dict[str, str] | None = None,
            secret: bool = False, secret_hint: str = "") -> TargetDict:
    """One target dict; a secret-bearing URL is replaced by an `${env:...}` template."""
    labels = {"source": source, **(extra or {})}
    endpoint = _endpoint_kind(url)
    if endpoint:
        labels["endpoint"] = endpoint
    region = _REGION_RE.search(urlsplit(url).netloc + ".")
    if region and "region" not in labels:
        labels["region"] = region.group(1)
    if secret or redact_url(url) != url:
        labels["url_from"] = secret_hint
        url = "${env:" + env_var_name(name) + "}"
    target: TargetDict = {"name": name, "url": url}
    if method != "GET":
        target["method"] = method
    target["labels"] = labels
    return target


def env_var_name(target_name: str) -> str:
    """The environment variable an imported target with a secret URL reads."""
    stem = re.sub(r"[^A-Z0-9]+", "_", target_name.upper()).strip("_")
    return f"COLDBENCH_{stem}" if stem.endswith("_URL") else f"COLDBENCH_{stem}_URL"


def _endpoint_kind(url: str) -> str | None:
    host = urlsplit(url).netloc.lower()
    for marker, kind in ((".lambda-url.", "function-url"), (".execute-api.", "api-gateway"),
                         (".run.app", "cloud-run"), (".cloudfunctions.net", "cloud-functions"),
                         (".azurewebsites.net", "azure-functions"), (".vercel.app", "vercel"),
                         (".workers.dev", "cloudflare-workers"), (".cloudfront.net", "cloudfront")):
        if marker in host + "/":
            return kind
    return None


def _name_from_path(url: str, stage: str | None) -> str:
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if segments and stage and segments[0] == stage:
        segments = segments[1:]  # REST APIs put the stage first
    return _slug("-".join(segments)) or "root"


def _slug(text: str) -> str:
    """kebab-case: "HelloWorldApi" → "hello-world-api", "api_endpoints.hello" → "api-endpoints-hello"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text)
    return re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")


def _with_unique_names(targets: list[TargetDict]) -> list[TargetDict]:
    """Make names unique: a method prefix first (post-echo), then a counter."""
    seen: set[str] = set()
    for target in targets:
        name = target["name"]
        if name in seen and target.get("method"):
            name = f"{target['method'].lower()}-{name}"
        base, counter = name, 2
        while name in seen:
            name, counter = f"{base}-{counter}", counter + 1
        if name != target["name"] and ENV_RE.fullmatch(target["url"]):
            target["url"] = "${env:" + env_var_name(name) + "}"
        target["name"] = name
        seen.add(name)
    return targets


# Scenarios an imported suite starts with: idle gaps spanning typical keep-alive windows, then
# back-to-back warm probes as the baseline. Edit to taste.
DEFAULT_SCENARIOS: tuple[dict[str, Any], ...] = (
    {"name": "idle-gaps", "type": "idle_gap", "gaps": ["10s", "1min", "5min", "15min", "30min"],
     "repetitions": 3, "shuffle": True},
    {"name": "warm", "type": "warm", "count": 20},
)


def format_suite_toml(targets: list[TargetDict], name: str, *, source: str | None = None,
                      scenarios: Iterable[dict[str, Any]] = DEFAULT_SCENARIOS) -> str:
    """A suite file (TOML text) with `targets` and starter scenarios; the header comment names the
    source and every environment variable the suite reads."""
    lines = [f"# Suite imported from {source}." if source else "# Imported suite.",
             "# Review the targets and scenarios before running; `coldbench validate` checks it."]
    env_names = sorted({m for t in targets for m in ENV_RE.findall(json.dumps(t))})
    if env_names:
        lines.append("# Environment variables it reads (secret URLs are kept out of this file):")
        lines += [f"#   {n}" for n in env_names]
    lines += ["", "[suite]", f"name = {format_toml_value(name)}", "seed = 1"]
    for target in targets:
        lines += ["", "[[targets]]", *_toml_table_lines(target)]
    for scenario in scenarios:
        lines += ["", "[[scenarios]]", *_toml_table_lines(scenario)]
    return "\n".join(lines) + "\n"


def _toml_table_lines(table: dict[str, Any]) -> list[str]:
    return [f"{_toml_key(k)} = {format_toml_value(v)}" for k, v in table.items()]


def format_toml_value(value: Any) -> str:
    """One TOML value: string, integer, finite float, boolean, array, or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"TOML cannot hold {value!r} here")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {format_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:  # a lone surrogate has no UTF-8 form
            out.append("\\uFFFD")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)
