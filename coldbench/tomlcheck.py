"""Typed reads of raw TOML values that fail with one line: `<file>: <key>: <problem>`.

The base of the suite parser's and the warmer configuration's validators (coldbench.suite,
coldbench.warmer.config): what both check the same way lives here, what they check differently
(integers, numbers, strings) stays with each.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from coldbench.errors import ConfigError
from coldbench.units import parse_duration_s


def did_you_mean(word: str, options: Sequence[str], otherwise: str = "") -> str:
    """Hint for an error message: "; did you mean 'x'?" for the closest option, else `otherwise`."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else otherwise


def type_name(value: Any) -> str:
    """How an error message names a TOML value's type ("a table", "an array", ...)."""
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


class TomlChecker:
    """Validation helpers that know the source file name for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> ConfigError:
        """A ConfigError naming the file and the key."""
        return ConfigError(f"{self.source}: {key}: {message}")

    def check_keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        """Fail on the first key not in `allowed`, with a close match or the valid keys."""
        for key in table:
            if key not in allowed:
                hint = did_you_mean(key, allowed, otherwise=f"; valid keys: {', '.join(allowed)}")
                raise self.fail(f"{where}.{key}" if where else key, f"unknown key{hint}")

    def string(self, value: Any, key: str) -> str:
        """A string (subclasses may be stricter)."""
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {type_name(value)}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        """One of `choices`, with a close match named when it is not."""
        text = self.string(value, key)
        if text not in choices:
            hint = did_you_mean(text, choices)
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {text!r}{hint}")
        return text

    def duration(self, value: Any, key: str) -> float:
        """Seconds from "30s", "5min", ... (coldbench.units), the file named on failure."""
        try:
            return parse_duration_s(value, key)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc}") from None
