"""One error hierarchy; the CLI turns each into a single `error: ...` line (exit 2)."""

from __future__ import annotations


class ColdbenchError(Exception):
    """Base of every error coldbench reports to a user as one line."""


class ConfigError(ColdbenchError):
    """A suite file, flag or setting is wrong: the message names the file/key/flag to change."""


class TargetError(ColdbenchError):
    """A target or provider cannot be used as configured (not a per-request failure)."""


class RunFormatError(ColdbenchError):
    """A run directory is missing, corrupt, foreign, or of an unknown format version."""


class ProviderError(ColdbenchError):
    """A provider's control plane refused or does not support an operation."""


class StorageError(ColdbenchError):
    """The run directory cannot be written (disk full, permissions)."""
