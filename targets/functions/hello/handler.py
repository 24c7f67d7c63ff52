"""Trivial function: returns a small JSON document. Deployable to AWS Lambda unchanged
(vendor coldbench/instrument.py next to this file)."""

# ruff: noqa: I001  (instrument is imported first on purpose: it starts the init clock)
import instrument  # first: its import starts the init clock


@instrument.instrument_lambda
def handler(event, context):
    """Say hello; the result maps to a 200 application/json response on a function URL."""
    return {"message": "hello", "function": context.function_name}
