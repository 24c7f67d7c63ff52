"""Redaction of secrets from anything written to disk or printed (pure)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
SECRET_HEADER_RE = re.compile(
    r"^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-amz-security-token|"
    r"x-auth-token|x-functions-key|api-key|.*token.*|.*secret.*|.*password.*)$",
    re.IGNORECASE,
)
SECRET_QUERY_RE = re.compile(r"(token|key|sig|signature|secret|password|code|auth)", re.IGNORECASE)
ENV_TEMPLATE_RE = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")


def redact_url(url: str) -> str:
    """Blank out user info and secret-looking query values in a URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = [
            (k, v if ENV_TEMPLATE_RE.fullmatch(v) or not SECRET_QUERY_RE.search(k) else REDACTED)
            for k, v in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="${}:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Return headers with secret values replaced (an `${env:...}` template is kept: it is no secret)."""
    return {
        k: (v if isinstance(v, str) and ENV_TEMPLATE_RE.fullmatch(v.split(" ")[-1]) else REDACTED)
        if SECRET_HEADER_RE.match(k)
        else v
        for k, v in headers.items()
    }


def redact_snapshot(raw: dict[str, Any]) -> dict[str, Any]:
    """Redact a parsed suite (still with `${env:NAME}` templates) for the run manifest."""
    for target in raw.get("targets", []) or []:
        if not isinstance(target, dict):
            continue
        if isinstance(target.get("url"), str):
            target["url"] = redact_url(target["url"])
        if isinstance(target.get("headers"), dict):
            target["headers"] = redact_headers(target["headers"])
    return raw


def redact_text(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each known secret value in free text (e.g. error messages)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
