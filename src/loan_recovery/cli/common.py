"""What every command shares: exit codes, consoles, settings, options and error handling.

This is the only place that turns :class:`LoanRecoveryError` into a message and an exit
code, so a user never sees a traceback (``--debug`` shows one for unexpected errors).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from loan_recovery.config import Settings, load_settings
from loan_recovery.exceptions import LoanRecoveryError

#: Exit codes shared by every command.
EXIT_OK = 0
EXIT_REJECTED_ROWS = 1
EXIT_UNUSABLE_INPUT = 2
EXIT_INTERNAL_ERROR = 3

#: Width used when output is not a terminal (pipes, CI logs): wide enough for metric tables.
_PIPE_WIDTH = 150

P = ParamSpec("P")
R = TypeVar("R")


class CliState:
    """Options given before the command name, shared with every command."""

    config_file: Path | None = None
    debug: bool = False


state = CliState()


def stdout_console() -> Console:
    """The console results go to; wide when piped so tables are not folded."""
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, _PIPE_WIDTH)
    return console


def stderr_console() -> Console:
    """The console for progress, notes and errors: never mixed into a result on stdout."""
    return Console(stderr=True)


def current_settings(**overrides: object) -> Settings:
    """Settings from ``--config`` (or the environment), with command-line ``overrides``."""
    return load_settings(state.config_file, **overrides)


def exit_code(rejected: int) -> int:
    """1 when some rows were rejected (the rest went through), else 0."""
    return EXIT_REJECTED_ROWS if rejected else EXIT_OK


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn domain errors into a one-line message and exit code 2; never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except typer.BadParameter:  # a bad option (combination): usage and exit 2
            raise
        except LoanRecoveryError as error:
            # escaped: a message naming an extra ("[api]") is text, not rich markup
            stderr_console().print(
                f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(EXIT_UNUSABLE_INPUT) from None
        except Exception as error:
            if state.debug:
                raise
            stderr_console().print(
                f"[bold red]unexpected error:[/] {type(error).__name__}: {escape(str(error))}\n"
                "Rerun with --debug for details and report it.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(EXIT_INTERNAL_ERROR) from None

    return wrapper


# --- options shared by several commands ------------------------------------------------------
StreamOption = Annotated[
    bool | None,
    typer.Option(
        "--stream/--no-stream",
        help="Read and write in record batches with bounded memory (default: for a folder "
        "of Parquet files or a file above compute.stream_above_mb).",
    ),
]
BatchRowsOption = Annotated[
    int | None,
    typer.Option(min=1, help="Rows per batch when streaming (default: compute.batch_rows)."),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="ADDRESS",
        help="Stream the batches as tasks on a Dask cluster: a scheduler address "
        "(tcp://host:8786) or 'local' (one worker per core). Parquet input; the input, "
        "output and model registry on paths every worker sees. Default: compute.engine.",
    ),
]
ModelsOption = Annotated[
    Path | None,
    typer.Option("--models", help="Model registry folder (default: var/models or settings)."),
]
#: ``--json`` of the commands that gained it with the CLI conventions; the command's help
#: says what the document holds.
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the result as one JSON document (described above)."),
]


def warnings_line(path: Path) -> str:
    """Where the warnings went, and what they mean for the loans."""
    return (
        f"Warnings (loans kept; an unusable email or phone turns that channel off, a bad "
        f"language becomes the default) listed in [bold]{path}[/]"
    )


# --- JSON ------------------------------------------------------------------------------------
def json_ready(value: object) -> object:
    """``value`` as plain JSON types: every non-finite float as null (JSON has no NaN, and
    a ratio to a zero BAU value is not a number a client could parse), numpy and pandas
    scalars as Python ones, paths and dates as text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    return value


def echo_json(payload: Mapping[str, Any] | list[Any]) -> None:
    """Print ``payload`` as one strict JSON document on stdout, nothing else."""
    typer.echo(json.dumps(json_ready(payload), allow_nan=False))
