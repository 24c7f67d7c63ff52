"""Helpers for the sandbox tests: throwaway functions, clients, ground-truth queries."""

from __future__ import annotations

import asyncio
import base64
import json
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import botocore.session
from botocore.config import Config

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "targets" / "functions"
NO_CONTAINERS = {name: {"container_workers": 0} for name in ("hello", "heavy", "sleepy")}


def write_function(root: Path, name: str, code: str, settings: str = "") -> Path:
    """Write `<root>/<name>/handler.py` and coldbench.toml (default: no container workers)."""
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(textwrap.dedent(code), encoding="utf-8")
    (directory / "coldbench.toml").write_text(textwrap.dedent(settings) or "container_workers = 0\n", encoding="utf-8")
    return directory


def lambda_client(url: str) -> Any:
    """A real botocore Lambda client pointed at the sandbox (no retries: we test throttles)."""
    session = botocore.session.get_session()
    return session.create_client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 0, "mode": "standard"}, read_timeout=30),
    )


def log_tail(response: dict[str, Any]) -> str:
    """The decoded X-Amz-Log-Result of a botocore invoke response."""
    return base64.b64decode(response["LogResult"]).decode()


def get_json(url: str) -> Any:
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def post(url: str, body: dict[str, Any] | None = None) -> Any:
    """POST JSON and return the decoded JSON reply."""
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def http(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers, body) of one request; HTTP errors are returned, not raised.

    The headers are an `http.client.HTTPMessage`: case-insensitive, `get_all` for repeats.
    """
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def truth(url: str, function: str | None = None, since: int = 0) -> list[dict[str, Any]]:
    """Ground-truth records from /_sandbox/invocations."""
    query = f"?since={since}" + (f"&function={function}" if function else "")
    return get_json(f"{url}/_sandbox/invocations{query}")


def instances(url: str, function: str, live_only: bool = True) -> list[dict[str, Any]]:
    """Instances of one function from /_sandbox/instances."""
    found = [i for i in get_json(f"{url}/_sandbox/instances") if i["function"] == function]
    return [i for i in found if i["state"] != "dead"] if live_only else found


def wait_until(predicate: Any, timeout_s: float = 10.0, period_s: float = 0.02) -> bool:
    """Poll `predicate()` until it is true or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return bool(predicate())


T = TypeVar("T")


def with_provider(url: str, use: Callable[[Any], Awaitable[T]]) -> T:
    """Run `use(provider)` with an AWS provider pointed at the sandbox, on a fresh event loop;
    the provider's clients are always closed."""
    from coldbench.providers.aws import AwsLambdaProvider

    async def main() -> T:
        provider = AwsLambdaProvider(endpoint_url=url, poll_interval_s=0.02, name="sandbox")
        try:
            return await use(provider)
        finally:
            await provider.close()

    return asyncio.run(main())
