"""Loading saved model pieces the same way: their JSON description file and XGBoost boosters."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from loan_recovery.exceptions import IncompatibleModelError


def incompatible(json_path: Path, kind: str, detail: str) -> IncompatibleModelError:
    """The error for a description file this code cannot use, naming the file and why."""
    return IncompatibleModelError(f"{json_path} is not {kind} this code can load: {detail}.")


def read_model_json(
    json_path: Path, *, kind: str, format_name: str, format_version: int
) -> dict[str, Any]:
    """The file's JSON object, after checking it is one and of the expected format version."""
    try:
        raw = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise incompatible(json_path, kind, f"invalid JSON ({error})") from None
    if not isinstance(raw, dict):
        raise incompatible(json_path, kind, "expected a JSON object")
    if raw.get("format") != format_name or raw.get("format_version") != format_version:
        raise incompatible(
            json_path,
            kind,
            f"format {raw.get('format')!r} version {raw.get('format_version')!r}, expected "
            f"{format_name!r} version {format_version}",
        )
    return raw


def column_difference(got: list[str], expected: list[str]) -> str:
    """Plain words for how ``got`` differs from ``expected``."""
    got_set, expected_set = set(got), set(expected)
    parts: list[str] = []
    missing = [name for name in expected if name not in got_set]
    unexpected = [name for name in got if name not in expected_set]
    if missing:
        parts.append(f"missing {missing}")
    if unexpected:
        parts.append(f"unexpected {unexpected}")
    if not parts and len(got) != len(expected):
        parts.append(f"{len(got)} columns with repeats for {len(expected)} expected")
    if not parts:
        position = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        parts.append(
            f"same columns in another order (position {position}: expected "
            f"{expected[position]!r}, got {got[position]!r})"
        )
    return "; ".join(parts)


def load_checked_booster(
    path: Path, names: list[str], best_iteration: int, *, described_in: str, nthread: int
) -> xgb.Booster:
    """A saved booster, refused unless its columns and rounds match its description file."""
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError as error:
        raise IncompatibleModelError(f"{path} is not a readable XGBoost model: {error}") from None
    if booster.feature_names != names:
        raise IncompatibleModelError(
            f"{path.name} was trained on other columns than {described_in} lists: "
            f"{column_difference(list(booster.feature_names or []), names)}."
        )
    if booster.num_boosted_rounds() != best_iteration + 1:
        raise IncompatibleModelError(
            f"{path.name} has {booster.num_boosted_rounds()} rounds; {described_in} records "
            f"best_iteration {best_iteration}."
        )
    booster.set_param({"nthread": nthread})
    return booster


def json_number_list(
    value: object, what: str, *, non_empty: bool = False
) -> npt.NDArray[np.float64]:
    """A saved list of finite numbers as float64, or IncompatibleModelError naming ``what``."""
    if not isinstance(value, list) or (non_empty and not value):
        kind = "a non-empty list" if non_empty else "a list"
        raise IncompatibleModelError(f"{what} must be {kind} of numbers.")
    if not all(isinstance(item, int | float) and not isinstance(item, bool) for item in value):
        raise IncompatibleModelError(f"{what} must hold only numbers.")
    array = np.asarray(value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise IncompatibleModelError(f"{what} must be finite.")
    return array


def json_number(value: object, what: str) -> float:
    """A saved finite number, or IncompatibleModelError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise IncompatibleModelError(f"{what} must be a finite number; got {value!r}.")
    return float(value)
