"""Parsing of human durations ("500ms", "30s", "10min") and sizes; pure functions."""

from __future__ import annotations

import re

from coldbench.errors import ConfigError

_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*$")
_SECONDS_PER_UNIT: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
}


def parse_duration_s(value: object, where: str = "duration") -> float:
    """Return seconds for `value`: a number (seconds) or a string like "500ms", "30s", "10min".

    `where` names the suite key for the error message.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration such as \"500ms\" or \"30s\", got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match or match.group(2) not in _SECONDS_PER_UNIT and match.group(2) != "":
            raise ConfigError(
                f"{where}: cannot read duration {value!r}; use a number with a unit "
                f"(ns, us, ms, s, min, h), e.g. \"500ms\""
            )
        seconds = float(match.group(1)) * _SECONDS_PER_UNIT.get(match.group(2) or "s", 1.0)
    else:
        raise ConfigError(f"{where}: expected a duration such as \"500ms\", got {type(value).__name__}")
    if seconds < 0 or seconds != seconds:
        raise ConfigError(f"{where}: duration must be >= 0, got {value!r}")
    return seconds


def format_duration_s(seconds: float) -> str:
    """Format seconds compactly for humans ("750ms", "12s", "5min")."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 120:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}min"
