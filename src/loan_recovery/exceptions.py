"""Domain errors.

Each subclasses the matching built-in as well, so callers can catch either
(``except ValueError`` still works). Only the ``cli`` package turns these into exit codes and
only ``api/`` into HTTP errors.
"""

from __future__ import annotations


class LoanRecoveryError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(LoanRecoveryError, ValueError):
    """The settings file or an environment variable holds an invalid value."""


class DataFileError(LoanRecoveryError, OSError):
    """A data file cannot be used at all: not found, unreadable, wrong format, or empty."""


class UnsupportedFormatError(DataFileError):
    """The file suffix is neither CSV nor Parquet."""


class MappingError(LoanRecoveryError, ValueError):
    """A column-mapping file is malformed or maps two columns onto one name."""


class SchemaError(LoanRecoveryError, ValueError):
    """A table misses required columns, so no row of it can be validated."""

    def __init__(self, message: str, missing_columns: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing_columns = missing_columns


class ModelError(LoanRecoveryError, RuntimeError):
    """A model cannot be trained, loaded or used as asked."""


class ModelNotFoundError(ModelError, LookupError):
    """No such model version, or no champion has been promoted yet."""


class TamperedModelError(ModelError):
    """A saved model file does not match its recorded checksum: refuse to load it."""


class IncompatibleModelError(ModelError):
    """A saved model expects other features or another format than this code provides."""


class TrainingDataError(LoanRecoveryError, ValueError):
    """The training table cannot train a model (too few rows, a single class, no label)."""
