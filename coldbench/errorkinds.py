"""Error kinds: every failed probe becomes a sample whose `error` is one of these (documented).

| kind             | what happened                                                        |
|------------------|----------------------------------------------------------------------|
| dns              | the host name did not resolve                                        |
| refused          | TCP connection refused                                               |
| connect_timeout  | no TCP/TLS connection within the timeout                             |
| connect          | another failure while connecting (unreachable network, ...)          |
| tls              | TLS handshake failed (bad or self-signed certificate, protocol)      |
| timeout_headers  | connected, but no complete response headers within the timeout       |
| timeout_body     | headers arrived, but the body did not finish within the timeout      |
| reset            | the connection was reset by the peer                                 |
| closed           | the server closed the connection before a complete response          |
| malformed        | the response was not valid HTTP                                      |
| payload          | the body did not match its framing (wrong Content-Length, bad chunk) |
| too_large        | the body was longer than the target's max_body_bytes (reading stopped) |
| redirect_loop    | too many redirects                                                   |
| throttled        | HTTP 429 (or Lambda TooManyRequestsException)                        |
| http_4xx         | any other HTTP 4xx status                                            |
| http_5xx         | HTTP 5xx status                                                      |
| function_error   | the platform ran the function and it failed (Lambda X-Amz-Function-Error) |
| client           | any other client-side failure (message in error_detail)              |
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
from aiohttp import http_exceptions

ERROR_KINDS = (
    "dns", "refused", "connect_timeout", "connect", "tls", "timeout_headers", "timeout_body",
    "reset", "closed", "malformed", "payload", "too_large", "redirect_loop", "throttled", "http_4xx",
    "http_5xx", "function_error", "client",
)


class ClassifiedFailure(Exception):
    """A request failure whose kind was known where it happened (the lean HTTP/1.1 client knows
    its phase exactly, so it does not need the aiohttp exception mapping below)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify_status(status: int) -> str | None:
    """Return the error kind of an HTTP status, or None for a success (< 400)."""
    if status == 429:
        return "throttled"
    if 400 <= status < 500:
        return "http_4xx"
    if status >= 500:
        return "http_5xx"
    return None


def classify_exception(exc: BaseException, *, connected: bool, headers_received: bool) -> str:
    """Map a client exception to an error kind, using how far the request had progressed."""
    if isinstance(exc, ClassifiedFailure):
        return exc.kind
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        if not connected:
            return "connect_timeout"
        return "timeout_body" if headers_received else "timeout_headers"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "tls"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, socket.gaierror):
            return "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, ssl.SSLError):
            return "tls"
        return "connect"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "redirect_loop"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return _payload_kind(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "closed"
    if isinstance(exc, ConnectionResetError | aiohttp.ClientConnectionResetError):
        return "reset"
    if isinstance(exc, aiohttp.ClientOSError):
        return "reset" if isinstance(exc.__cause__, ConnectionResetError) or exc.errno == 104 else "connect"
    if isinstance(exc, http_exceptions.PayloadEncodingError):
        return "payload"  # the pure-Python parser raises these unwrapped
    if isinstance(exc, aiohttp.ClientResponseError):
        return "payload" if _is_body_framing_error(exc) else "malformed"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    return "client"


def _is_body_framing_error(exc: BaseException) -> bool:
    """A broken body parsed in the same read as the headers surfaces as a response error."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, http_exceptions.PayloadEncodingError) or "chunk" in str(cause).lower():
            return True
        cause = cause.__cause__
    return False


def _payload_kind(exc: aiohttp.ClientPayloadError) -> str:
    text = str(exc).lower()
    if "reset" in text:
        return "reset"
    return "payload"
