"""HTTP <-> Lambda mapping by the function-URL rules (payload format 2.0). Pure, stdlib only.

Used by the sandbox's `/fn/<name>/...` surface and by container workers (which load this file
by path, so it must not import coldbench or aiohttp).

Request -> event: `version` 2.0, `rawPath` (the path after `/fn/<name>`), `rawQueryString`,
lower-cased `headers` (repeated ones comma-joined), `cookies`, `queryStringParameters`
(repeated ones comma-joined), `requestContext.http`, and `body` (base64 when not text).

Result -> response: a dict with `statusCode` gives status, `headers`, `cookies`, `body` and
`isBase64Encoded`; any other JSON value is returned as 200 application/json with the JSON text
as body, exactly as a function URL does.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript",
              "application/x-www-form-urlencoded", "+json", "+xml")
URL_ID = "coldbenchsandbox"
INTERNAL_ERROR = b'{"Message":"Internal Server Error"}'


def is_text_content(content_type: str) -> bool:
    """Function URLs pass text bodies as-is and base64-encode everything else."""
    content_type = content_type.lower()
    return not content_type or any(marker in content_type for marker in TEXT_TYPES)


def build_event(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """Return the payload-2.0 event a function URL would send for this request."""
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path or "/",
        "rawQueryString": raw_query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": f"{URL_ID}.lambda-url.us-east-1.on.aws",
            "domainPrefix": URL_ID,
            "http": {
                "method": method.upper(),
                "path": raw_path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        text = None
        if is_text_content(merged.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
        else:
            event["body"] = text
    return event


def build_http_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Map a function's JSON result to (status, headers, body) by the function-URL rules."""
    try:
        result = json.loads(payload) if payload else None
    except ValueError:
        return 200, [("Content-Type", "application/json")], payload
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, [("Content-Type", "application/json")], payload
    return build_http_response_from(result)


def build_http_response_from(result: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Map a result dict that has a `statusCode` to (status, headers, body)."""
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        return 502, [("Content-Type", "application/json")], INTERNAL_ERROR
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), value if isinstance(value, str) else json.dumps(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("Set-Cookie", str(cookie)))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raw = json.dumps(body).encode()
    elif result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return 502, [("Content-Type", "application/json")], INTERNAL_ERROR
    else:
        raw = body.encode("utf-8")
    return status, headers, raw


def apply_truth_headers(
    headers: list[tuple[str, str]],
    mode: bool | str,
    instance_id: str | None,
    invocation_n: int | None,
    init_ms: float | None,
) -> list[tuple[str, str]]:
    """Apply a function's `ground_truth_headers` mode to its response headers.

    True: the platform's truth replaces whatever the function sent. "instrumented": the
    function's own (instrument.py) headers pass through. False: every X-Coldbench-* header is
    removed, so the client is black-box.
    """
    if mode == "instrumented":
        return headers
    kept = [(k, v) for k, v in headers if not k.lower().startswith("x-coldbench-")]
    if mode is True and instance_id is not None:
        kept.append(("X-Coldbench-Instance", instance_id))
        if invocation_n is not None:
            kept.append(("X-Coldbench-Invocation", str(invocation_n)))
        if init_ms is not None:
            kept.append(("X-Coldbench-Init-Ms", f"{init_ms:.3f}"))
    return kept
