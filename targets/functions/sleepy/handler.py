"""Function that sleeps a given time: `?ms=N` on a function URL, or `{"ms": N}` as the event
(default 100 ms). Deployable to AWS Lambda unchanged (vendor coldbench/instrument.py)."""

# ruff: noqa: I001  (instrument is imported first on purpose: it starts the init clock)
import instrument  # first: its import starts the init clock

import json
import time

DEFAULT_MS = 100.0


def requested_ms(event):
    """The sleep time asked for by a direct event, a query string or a JSON body."""
    if not isinstance(event, dict):
        return DEFAULT_MS
    if "ms" in event:
        return float(event["ms"])
    query = event.get("queryStringParameters") or {}
    if "ms" in query:
        return float(query["ms"])
    body = event.get("body")
    if isinstance(body, str) and body.startswith("{"):
        return float(json.loads(body).get("ms", DEFAULT_MS))
    return DEFAULT_MS


@instrument.instrument_lambda
def handler(event, context):
    """Sleep, then report how long."""
    ms = max(0.0, requested_ms(event))
    time.sleep(ms / 1000.0)
    return {"message": "slept", "ms": ms}
