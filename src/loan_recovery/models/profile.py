"""A data profile of a labelled loan table against the risk label, before any model.

A model trained on a file inherits its problems, so ``loan-recovery profile`` shows what
the data says on its own: per risk feature its type, missing share, distinct values, how
well it separates the label alone (ROC-AUC, missing rows left out), the direction it points
in beside the one domain knowledge expects (``design.MONOTONE_DIRECTIONS``), and flags:

* ``constant``: one value in every row, so it carries no information;
* ``leakage``: one column alone separates the label almost perfectly, or the column is
  recorded after the outcome (``schema.ACTION_AND_OUTCOME_COLUMNS``). The design matrix
  never holds those, so the raw table's post-outcome columns are profiled beside it and
  flagged as excluded, for the user to see what they would have leaked;
* ``direction_contradiction``: the feature moves risk the other way than expected;
* ``duplicate_conflicts`` (table level): rows whose whole feature vector repeats with
  the other label, which no model can separate.

Everything is computed on whole columns (rank sums, ``groupby``), never row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from markupsafe import escape

from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, TrainingDataError
from loan_recovery.models.design import MONOTONE_DIRECTIONS, describe_feature

#: Columns recorded after the outcome; the label itself is what everything is profiled against.
POST_OUTCOME_COLUMNS: Final[tuple[str, ...]] = tuple(
    column for column in schema.ACTION_AND_OUTCOME_COLUMNS if column != schema.RECOVERY_STATUS
)
#: Design columns whose codes are ordered categories rather than measurements.
ORDINAL_COLUMNS: Final[tuple[str, ...]] = (schema.PAYMENT_HISTORY_CODE,)
#: A single column separating the label better than this (either way) is too good to be true.
LEAK_AUC: Final = 0.95
#: |AUC - 0.5| below this: the column points in no direction.
DIRECTION_TOLERANCE: Final = 0.02

KIND_BINARY: Final = "binary"
KIND_ORDINAL: Final = "ordinal"
KIND_NUMERIC: Final = "numeric"
KIND_CATEGORICAL: Final = "categorical"
FLAG_CONSTANT: Final = "constant"
FLAG_LEAKAGE: Final = "leakage"
FLAG_DIRECTION: Final = "direction_contradiction"
FLAG_DUPLICATE_CONFLICTS: Final = "duplicate_conflicts"
FLAG_SINGLE_CLASS: Final = "single_class"
#: The ``feature`` of a flag about the whole table.
TABLE_LEVEL: Final = "(table)"
POST_OUTCOME_REASON: Final = "post-outcome: excluded from the model"
#: Columns of :attr:`DataProfile.table`, indexed by feature.
PROFILE_COLUMNS: Final = (
    "description",
    "in_model",
    "dtype",
    "kind",
    "missing_share",
    "distinct",
    "auc",
    "observed_direction",
    "expected_direction",
    "flags",
)
_NONE: Final = "—"
_DIRECTION_WORDS: Final = {
    1: "higher values go with more risk",
    -1: "higher values go with less risk",
}


class ProfileFlag(NamedTuple):
    """One finding: which feature (or ``(table)``), which flag, and a readable sentence."""

    feature: str
    flag: str
    reason: str


@dataclass(frozen=True)
class DataProfile:
    """Per-feature profile (``table``), its findings (``flags``) and table-level counts."""

    table: pd.DataFrame
    flags: tuple[ProfileFlag, ...]
    rows: int
    positives: int
    duplicate_rows: int
    duplicate_conflicts: int
    leak_auc: float
    direction_tolerance: float

    @property
    def base_rate(self) -> float | None:
        """Share of rows with label 1 (None for an empty table)."""
        return self.positives / self.rows if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN and missing directions become None, numbers plain Python."""
        features = [
            {"feature": str(name), **{key: _plain(row[key]) for key in PROFILE_COLUMNS}}
            for name, row in self.table.iterrows()
        ]
        return {
            "rows": self.rows,
            "positives": self.positives,
            "base_rate": self.base_rate,
            "duplicate_rows": self.duplicate_rows,
            "duplicate_conflicts": self.duplicate_conflicts,
            "thresholds": {
                "leak_auc": self.leak_auc,
                "direction_tolerance": self.direction_tolerance,
            },
            "features": features,
            "flags": [flag._asdict() for flag in self.flags],
        }


def univariate_auc(values: pd.DataFrame, label: npt.ArrayLike) -> pd.Series:
    """ROC-AUC of each column alone as a score for label 1; missing rows left out per column.

    Mann-Whitney rank sums with average ranks for ties, all columns at once. NaN where it
    is undefined: a constant column, or a column with no row of one class.
    """
    positive = np.asarray(label) == 1
    present = values.notna()
    ranks = values.rank(method="average", na_option="keep")
    n_pos = present.loc[positive].sum().astype(float)
    n_neg = present.loc[~positive].sum().astype(float)
    rank_sum = ranks.loc[positive].sum()
    auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg).where(n_pos * n_neg > 0)
    defined: pd.Series = auc.where(values.nunique(dropna=True) > 1).astype(float)
    return defined


def duplicate_conflicts(design: pd.DataFrame, label: npt.ArrayLike) -> tuple[int, int]:
    """Rows whose feature vector repeats; of those, rows seen with both labels (NaN == NaN)."""
    repeated = design.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return 0, 0
    subset = design.loc[repeated]
    labels = pd.Series(np.asarray(label)[repeated], index=subset.index)
    keys = [subset[column] for column in subset.columns]
    classes = labels.groupby(keys, dropna=False, sort=False).transform("nunique")
    return int(repeated.sum()), int((classes > 1).sum())


def profile_features(
    design: pd.DataFrame,
    label: npt.ArrayLike,
    *,
    expected: Mapping[str, int] = MONOTONE_DIRECTIONS,
    leak_auc: float = LEAK_AUC,
    direction_tolerance: float = DIRECTION_TOLERANCE,
    post_outcome_columns: tuple[str, ...] = POST_OUTCOME_COLUMNS,
    ordinal_columns: tuple[str, ...] = ORDINAL_COLUMNS,
    table: pd.DataFrame | None = None,
    describe: Callable[[str], str] = describe_feature,
) -> DataProfile:
    """Profile every design column against ``label`` (0/1, one per row).

    ``table``, when given, is the validated table the design was built from (same rows):
    its columns named in ``post_outcome_columns`` are profiled too, after the design's,
    with ``in_model`` False and a ``leakage`` flag saying they are excluded.
    """
    if not 0.5 < leak_auc <= 1:
        raise ConfigError(f"leak_auc must be in (0.5, 1]; got {leak_auc}.")
    labels = np.asarray(label)
    if labels.shape != (len(design),) or not np.isin(labels, (0, 1)).all():
        raise TrainingDataError(
            f"the label must hold one 0 or 1 per design row ({len(design)}); "
            f"got shape {labels.shape}, values {np.unique(labels)[:5].tolist()}."
        )
    frames = [_design_profile(design, labels, ordinal_columns)]
    if table is not None:
        if len(table) != len(design):
            raise TrainingDataError(
                f"the table must have the design's {len(design)} rows; got {len(table)}."
            )
        outside = [c for c in post_outcome_columns if c in table and c not in design]
        if outside:
            raw = table[outside].set_axis(design.index, axis=0)
            frames.append(_raw_profile(raw, labels))
    profile = pd.concat(frames)
    profile.index.name = "feature"
    profile.insert(0, "description", [describe(str(name)) for name in profile.index])
    profile["expected_direction"] = pd.array(
        [expected.get(str(name), 0) for name in profile.index], dtype="Int8"
    )
    profile["observed_direction"] = _observed_direction(profile, direction_tolerance)
    flags = _feature_flags(profile, set(post_outcome_columns), leak_auc)
    per_feature = {n: tuple(f.flag for f in flags if f.feature == n) for n in profile.index}
    profile["flags"] = pd.Series(per_feature, dtype=object).reindex(profile.index)
    duplicated, conflicts = duplicate_conflicts(design, labels)
    table_flags = _table_flags(len(labels), int(labels.sum()), conflicts)
    return DataProfile(
        table=profile[list(PROFILE_COLUMNS)],
        flags=(*flags, *table_flags),
        rows=len(labels),
        positives=int(labels.sum()),
        duplicate_rows=duplicated,
        duplicate_conflicts=conflicts,
        leak_auc=leak_auc,
        direction_tolerance=direction_tolerance,
    )


def _design_profile(
    design: pd.DataFrame, labels: npt.NDArray[Any], ordinal_columns: tuple[str, ...]
) -> pd.DataFrame:
    binary = (design.isin([0, 1]) | design.isna()).all()
    kinds = np.where(binary, KIND_BINARY, KIND_NUMERIC)
    kinds = np.where(design.columns.isin(ordinal_columns), KIND_ORDINAL, kinds)
    return _columns_profile(design, design, labels, kinds, in_model=True)


def _raw_profile(raw: pd.DataFrame, labels: npt.NDArray[Any]) -> pd.DataFrame:
    """Raw columns as scores: numbers as they are, Yes/No as 1/0, other categories by
    their label rate (the best any score of that column could do; it has no order)."""
    encoded: dict[str, pd.Series] = {}
    kinds: list[str] = []
    for column in raw.columns:
        values = raw[column]
        text = values.astype("string").str.strip()
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            encoded[column] = values.astype(float)
            binary = bool(values.dropna().isin([0, 1]).all())
            kinds.append(KIND_BINARY if binary else KIND_NUMERIC)
        elif set(text.dropna().unique()) <= set(schema.YES_NO):
            encoded[column] = text.map({"Yes": 1.0, "No": 0.0}).astype(float)
            kinds.append(KIND_BINARY)
        else:
            rate = pd.Series(labels, index=raw.index, dtype=float).groupby(text).mean()
            encoded[column] = text.map(rate).astype(float)
            kinds.append(KIND_CATEGORICAL)
    scores = pd.DataFrame(encoded, index=raw.index)
    return _columns_profile(raw, scores, labels, np.asarray(kinds), in_model=False)


def _columns_profile(
    values: pd.DataFrame,
    scores: pd.DataFrame,
    labels: npt.NDArray[Any],
    kinds: npt.NDArray[Any],
    *,
    in_model: bool,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "in_model": in_model,
            "dtype": values.dtypes.astype(str),
            "kind": kinds,
            "missing_share": values.isna().mean(),
            "distinct": values.nunique(dropna=True),
            "auc": univariate_auc(scores, labels),
            "ordered": kinds != KIND_CATEGORICAL,
        },
        index=values.columns,
    )


def _observed_direction(profile: pd.DataFrame, tolerance: float) -> pd.Series:
    """+1: higher values go with label 1; -1: with label 0; 0: neither; NA: no AUC or order."""
    auc = profile["auc"]
    sign = np.where(auc > 0.5 + tolerance, 1, np.where(auc < 0.5 - tolerance, -1, 0))
    observed = pd.Series(pd.array(sign, dtype="Int8"), index=profile.index)
    return observed.mask(auc.isna() | ~profile["ordered"].astype(bool))


def _feature_flags(
    profile: pd.DataFrame, post_outcome: set[str], leak_auc: float
) -> list[ProfileFlag]:
    return [
        ProfileFlag(str(name), flag, reason)
        for name, row in profile.iterrows()
        for flag, reason in _findings(str(name), row, post_outcome, leak_auc)
    ]


def _findings(
    name: str, row: pd.Series, post_outcome: set[str], leak_auc: float
) -> Iterator[tuple[str, str]]:
    text = f"{row['description']} ({name})"
    auc = None if pd.isna(row["auc"]) else float(row["auc"])
    auc_text = _NONE if auc is None else f"{auc:.3f}"
    if row["distinct"] <= 1:
        what = "missing in every row" if row["missing_share"] == 1 else "the same in every row"
        yield FLAG_CONSTANT, f"{text} is {what}: no information."
    leak = None
    if not row["in_model"]:
        leak = (
            f"{POST_OUTCOME_REASON}. {text} is decided or observed after the moment a risk "
            f"score is made (AUC alone {auc_text}); training on it would leak the outcome."
        )
    elif name in post_outcome:
        leak = (
            f"{text} is recorded after the outcome but is in the design matrix "
            f"(AUC alone {auc_text}); remove it."
        )
    elif auc is not None and max(auc, 1 - auc) > leak_auc:
        leak = (
            f"{text} alone separates the label almost perfectly (AUC {auc_text}, limit "
            f"{leak_auc:g} either way); check it is known before the outcome."
        )
    if leak:
        yield FLAG_LEAKAGE, leak
    expected, observed = row["expected_direction"], row["observed_direction"]
    if expected != 0 and pd.notna(observed) and observed not in (0, expected):
        contradiction = (
            f"{text}: expected {_DIRECTION_WORDS[int(expected)]}, but in this file "
            f"{_DIRECTION_WORDS[int(observed)]} (AUC {auc_text})."
        )
        yield FLAG_DIRECTION, contradiction


def _table_flags(rows: int, positives: int, conflicts: int) -> list[ProfileFlag]:
    flags: list[ProfileFlag] = []
    if rows and positives in (0, rows):
        reason = f"all {rows:,} rows have label {int(positives > 0)}: no AUC, no model can learn."
        flags.append(ProfileFlag(TABLE_LEVEL, FLAG_SINGLE_CLASS, reason))
    if conflicts:
        reason = f"{conflicts:,} rows share their whole feature vector with the other label."
        flags.append(ProfileFlag(TABLE_LEVEL, FLAG_DUPLICATE_CONFLICTS, reason))
    return flags


def display_rows(profile: DataProfile) -> list[dict[str, str]]:
    """The profile as text cells (feature, description, type, missing, distinct, AUC,
    direction observed / expected, flags), shared by the terminal, HTML and Markdown."""
    rows: list[dict[str, str]] = []
    for name, row in profile.table.iterrows():
        auc, observed, expected = row["auc"], row["observed_direction"], row["expected_direction"]
        rows.append(
            {
                "feature": str(name),
                "description": str(row["description"]),
                "in_model": "yes" if row["in_model"] else "no",
                "kind": str(row["kind"]),
                "missing": f"{100 * float(row['missing_share']):.1f}%",
                "distinct": f"{int(row['distinct']):,}",
                "auc": _NONE if pd.isna(auc) else f"{float(auc):.3f}",
                "direction": f"{_signed(observed)} / {_signed(expected)}",
                "flags": ", ".join(row["flags"]),
            }
        )
    return rows


def profile_summary(profile: DataProfile) -> str:
    """One sentence: rows, label balance and duplicate conflicts."""
    rate = _NONE if profile.base_rate is None else f"{100 * profile.base_rate:.1f}%"
    return (
        f"{profile.rows:,} rows, {profile.positives:,} with label 1 (base rate {rate}); "
        f"{profile.duplicate_conflicts:,} rows in duplicate feature vectors with both labels."
    )


def profile_markdown_section(profile: DataProfile, *, heading: str = "## Data profile") -> str:
    """The profile as a Markdown section (heading, summary, table, findings) for the card."""
    headers = ("feature", "type", "missing", "distinct", "AUC", "direction obs / exp", "flags")
    keys = ("feature", "kind", "missing", "distinct", "auc", "direction", "flags")
    lines = [heading, "", _markdown(profile_summary(profile)), ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * 5 + ["---"]) + "|")
    for row in display_rows(profile):
        lines.append("| " + " | ".join(_markdown(row[key]) for key in keys) + " |")
    lines.extend(["", "Findings:" if profile.flags else "No findings.", ""])
    lines.extend(
        f"- **{_markdown(flag.flag)}** {_markdown(flag.feature)}: {_markdown(flag.reason)}"
        for flag in profile.flags
    )
    return "\n".join(lines).rstrip("\n") + "\n"


def _signed(direction: Any) -> str:
    if pd.isna(direction):
        return _NONE
    return f"{int(direction):+d}" if int(direction) else "0"


def _markdown(value: object) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, Markdown syntax backslashed."""
    text = str(escape(" ".join(str(value).splitlines())))
    for character in ("\\", "`", "*", "_", "[", "]", "|", "#"):
        text = text.replace(character, "\\" + character)
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return None if pd.isna(value) else value.item() if isinstance(value, np.generic) else value
