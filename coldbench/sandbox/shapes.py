"""Lambda-shaped payloads: function error bodies, API error bodies, log tails, ARNs. Pure.

Shapes follow what AWS returns today so that botocore/aiobotocore clients parse them unchanged:
API errors carry both the `x-amzn-ErrorType` header and a JSON body with `Type`/`message`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

ACCOUNT_ID = "000000000000"
REGION = "us-east-1"
LOG_TAIL_BYTES = 4096  # Invoke returns "the last 4 KB of the execution log"


def function_arn(name: str) -> str:
    """The ARN the sandbox reports for a function."""
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def function_name_from(identifier: str) -> str:
    """Accept a name, `name:qualifier`, a full or partial ARN; return the bare name."""
    parts = identifier.split(":")
    if "function" in parts:
        index = parts.index("function")
        return parts[index + 1] if index + 1 < len(parts) else ""
    return parts[0]


def error_payload(error_type: str, message: str) -> bytes:
    """A function error body as the Invoke API returns it."""
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def crash_payload(request_id: str, returncode: int | None) -> bytes:
    """The body Lambda returns when the runtime process exits during an invocation."""
    if returncode is not None and returncode < 0:
        how = "signal: killed" if returncode == -9 else f"signal: {-returncode}"
    else:
        how = f"exit status {returncode}"
    return error_payload("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited with error: {how}")


def timeout_payload(request_id: str, timeout_s: float, phase: str = "Task") -> bytes:
    """The body Lambda returns when the function (or its init) runs past its timeout."""
    return error_payload("Sandbox.Timedout", f"RequestId: {request_id} Error: {phase} timed out after {timeout_s:.2f} seconds")


def api_error(error_type: str, message: str, status: int, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a Lambda control/data-plane API error."""
    body = {"Type": "User", "message": message, **extra}
    return status, {"x-amzn-ErrorType": error_type, "Content-Type": "application/json"}, json.dumps(body).encode()


def too_many_requests(reason: str) -> tuple[int, dict[str, str], bytes]:
    """Lambda's 429 TooManyRequestsException (reserved / account concurrency exhausted)."""
    return api_error("TooManyRequestsException", "Rate Exceeded.", 429, Reason=reason)


def not_found(what: str) -> tuple[int, dict[str, str], bytes]:
    """Lambda's 404 ResourceNotFoundException."""
    status, headers, _ = api_error("ResourceNotFoundException", "", 404)
    return status, headers, json.dumps({"Type": "User", "Message": what}).encode()


def format_log_tail(
    request_id: str,
    log_text: str,
    duration_ms: float | None,
    billed_ms: int,
    memory_mb: int,
    memory_used_mb: int | None,
    init_ms: float | None,
) -> str:
    """START/END/REPORT lines around the function's output, cut to the last 4 KB, base64."""
    report = f"REPORT RequestId: {request_id}\tDuration: {duration_ms or 0.0:.2f} ms\tBilled Duration: {billed_ms} ms"
    report += f"\tMemory Size: {memory_mb} MB\tMax Memory Used: {memory_used_mb or 0} MB"
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    text = f"START RequestId: {request_id} Version: $LATEST\n{log_text}END RequestId: {request_id}\n{report}\t\n"
    raw = text.encode("utf-8", "replace")[-LOG_TAIL_BYTES:]
    return base64.b64encode(raw).decode("ascii")
