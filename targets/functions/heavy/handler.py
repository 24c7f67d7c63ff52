"""Function with a heavy import (numpy at module level), so its cold start is visibly larger.
Deployable to AWS Lambda unchanged (vendor coldbench/instrument.py and numpy in the package)."""

# ruff: noqa: I001  (instrument is imported first on purpose: it starts the init clock)
import instrument  # first: its import starts the init clock

import numpy as np

_WEIGHTS = np.linspace(0.0, 1.0, 1024)


@instrument.instrument_lambda
def handler(event, context):
    """Do a little numpy work per request."""
    return {"message": "heavy", "numpy": np.__version__, "checksum": float(_WEIGHTS @ _WEIGHTS)}
