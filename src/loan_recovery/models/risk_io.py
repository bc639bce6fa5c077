"""Saving and loading the served risk model: JSON plus a safe learner file, never pickle.

``risk_model.json`` holds the family, features, settings, the calibrator and the SHA-256
of the learner's file: XGBoost's UBJSON, a ``skops`` forest (only the types a forest
needs are trusted) or the scorecard's JSON. Loading refuses a file that changed since it
was saved, so a model file cannot run code or silently score differently.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import skops
import skops.io
import xgboost as xgb
from pydantic import ValidationError
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.validation import check_is_fitted

import loan_recovery
from loan_recovery.config import RiskSettings, XGBoostSettings
from loan_recovery.exceptions import (
    IncompatibleModelError,
    ModelError,
    ModelNotFoundError,
    TamperedModelError,
)
from loan_recovery.models.calibration import Calibrator
from loan_recovery.models.model_json import incompatible, load_checked_booster, read_model_json
from loan_recovery.models.risk import (
    MODEL_JSON,
    RANDOM_FOREST_FILE,
    SCORECARD_FILE,
    XGBOOST_FILE,
    CalibratedRiskModel,
)
from loan_recovery.models.risk_inputs import thread_count
from loan_recovery.models.risk_learner import FAMILIES, RiskModel, check_family
from loan_recovery.models.scorecard import Scorecard

_MODEL_FILES: dict[str, str] = {
    "xgboost": XGBOOST_FILE,
    "random_forest": RANDOM_FOREST_FILE,
    "scorecard": SCORECARD_FILE,
}
FORMAT_NAME = "loan_recovery.risk_model"
FORMAT_VERSION = 1
#: Types a saved forest may hold beyond those skops trusts by default.
_TRUSTED_SKOPS_TYPES = frozenset({"sklearn.tree._tree.Tree"})
#: Settings keys of earlier versions, dropped on load so their models still score.
_RETIRED_SETTINGS = ("calibration_fraction",)


def save_risk_model(model: CalibratedRiskModel, folder: Path) -> list[Path]:
    """Write ``risk_model.json`` and the learner's file; returns both paths."""
    check_is_fitted(model, "calibrator_")
    folder.mkdir(parents=True, exist_ok=True)
    family = check_family(model.family)
    model_path = folder / _MODEL_FILES[family]
    base = model.base_
    if family == "xgboost":
        base.booster_.save_model(str(model_path))
    elif family == "random_forest":
        skops.io.dump(base.estimator_, model_path)
    else:
        text = json.dumps(base.scorecard_.to_dict(), indent=1, allow_nan=False)
        model_path.write_text(text + "\n", encoding="utf-8")
    learner_xgboost = base.xgboost if base.xgboost is not None else model._settings().xgboost
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "family": family,
        "feature_names": [str(name) for name in model.feature_names_in_],
        "params": {
            "random_state": model.random_state,
            "monotone": bool(model.monotone_),
            "learner_xgboost": learner_xgboost.model_dump(mode="json"),
            "settings": model._settings().model_dump(mode="json"),
        },
        "best_iteration": base.best_iteration_ if family == "xgboost" else None,
        "calibration": {
            "method": model.calibration_method_,
            "calibrator": model.calibrator_.to_dict(),
            "brier": model.calibration_brier_,
        },
        "model_file": model_path.name,
        "model_sha256": _sha256(model_path),
        "libraries": _library_versions(),
    }
    json_path = folder / MODEL_JSON
    json_path.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n", "utf-8")
    return [json_path, model_path]


def load_risk_model(folder: Path) -> CalibratedRiskModel:
    """Rebuild a saved model; scores are bit-identical to the model that was saved.

    Raises ModelNotFoundError when there is no model, TamperedModelError when the
    learner file changed since it was saved, and IncompatibleModelError when the
    files do not describe a model this code can run.
    """
    json_path = folder / MODEL_JSON
    if not json_path.is_file():
        raise ModelNotFoundError(f"no risk model in {folder}: {MODEL_JSON} is missing.")
    manifest = _read_manifest(json_path)
    family = manifest["family"]
    names: list[str] = manifest["feature_names"]
    settings: RiskSettings = manifest["settings"]
    model_path = folder / _MODEL_FILES[family]
    if not model_path.is_file():
        raise ModelNotFoundError(f"{json_path} names {model_path.name}, which is missing.")
    if _sha256(model_path) != manifest["model_sha256"]:
        raise TamperedModelError(
            f"{model_path} does not match the SHA-256 recorded in {json_path.name}; "
            "refusing to load it."
        )
    base = RiskModel(
        family=family,
        xgboost=manifest["learner_xgboost"],
        random_forest=settings.random_forest,
        random_state=manifest["random_state"],
        monotone=manifest["monotone"],
    )
    if family == "xgboost":
        base.booster_ = _load_booster(model_path, names, manifest["best_iteration"])
        base.best_iteration_ = manifest["best_iteration"]
    elif family == "random_forest":
        base.estimator_ = _load_forest(model_path, len(names))
    else:
        base.scorecard_ = _load_scorecard(model_path, len(names))
    base.feature_names_in_ = np.asarray(names, dtype=object)
    base.n_features_in_ = len(names)
    base.classes_ = np.array([0, 1], dtype=np.int64)
    model = CalibratedRiskModel(
        family=family,
        settings=settings,
        random_state=manifest["random_state"],
        monotone=manifest["monotone"],
    )
    model.base_ = base
    model.monotone_ = manifest["monotone"] and family != "scorecard"
    model.grid_choice_ = None
    model.calibrator_ = manifest["calibrator"]
    model.calibration_method_ = manifest["calibrator"].method_
    model.calibration_brier_ = manifest["brier"]
    model.feature_names_in_ = base.feature_names_in_
    model.n_features_in_ = base.n_features_in_
    model.classes_ = base.classes_
    return model


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _library_versions() -> dict[str, str]:
    return {
        "loan_recovery": loan_recovery.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "xgboost": xgb.__version__,
        "skops": skops.__version__,
    }


def _read_manifest(json_path: Path) -> dict[str, Any]:
    """The checked contents of ``risk_model.json`` (typed objects, not raw JSON)."""

    def bad(detail: str) -> IncompatibleModelError:
        return incompatible(json_path, "a risk model", detail)

    raw = read_model_json(
        json_path, kind="a risk model", format_name=FORMAT_NAME, format_version=FORMAT_VERSION
    )
    family = raw.get("family")
    if family not in FAMILIES:
        raise bad(f"family {family!r} is not one of {list(FAMILIES)}")
    names = raw.get("feature_names")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(name, str) for name in names)
        or len(set(names)) != len(names)
    ):
        raise bad("feature_names must be a non-empty list of distinct strings")
    params = raw.get("params")
    if not isinstance(params, dict):
        raise bad("params must be an object")
    random_state = params.get("random_state")
    if not isinstance(random_state, int) or isinstance(random_state, bool):
        raise bad(f"random_state must be an integer; got {random_state!r}")
    recorded = params.get("settings")
    if isinstance(recorded, dict):
        recorded = {key: value for key, value in recorded.items() if key not in _RETIRED_SETTINGS}
    try:
        settings = RiskSettings.model_validate(recorded)
        learner_xgboost = XGBoostSettings.model_validate(
            params.get("learner_xgboost", settings.xgboost.model_dump())
        )
    except ValidationError as error:
        raise bad(f"settings are invalid ({error.error_count()} problems: {error})") from None
    monotone = params.get("monotone", True)
    if not isinstance(monotone, bool):
        raise bad(f"monotone must be true or false; got {monotone!r}")
    best = raw.get("best_iteration")
    if family == "xgboost" and (not isinstance(best, int) or isinstance(best, bool) or best < 0):
        raise bad(f"best_iteration must be a non-negative integer; got {best!r}")
    calibration = raw.get("calibration")
    if not isinstance(calibration, dict):
        raise bad("calibration must be an object")
    calibrator = Calibrator.from_dict(calibration.get("calibrator", {}))
    if calibration.get("method") != calibrator.method_:
        raise bad(
            f"calibration method {calibration.get('method')!r} disagrees with the calibrator's "
            f"{calibrator.method_!r}"
        )
    brier = calibration.get("brier")
    if not isinstance(brier, dict) or not all(
        isinstance(value, int | float) for value in brier.values()
    ):
        raise bad("calibration brier must map names to numbers")
    if raw.get("model_file") != _MODEL_FILES[family]:
        raise bad(f"model_file must be {_MODEL_FILES[family]!r}; got {raw.get('model_file')!r}")
    digest = raw.get("model_sha256")
    if not isinstance(digest, str):
        raise bad("model_sha256 is missing")
    return {
        "family": family,
        "feature_names": names,
        "settings": settings,
        "learner_xgboost": learner_xgboost,
        "monotone": monotone,
        "random_state": random_state,
        "best_iteration": best,
        "calibrator": calibrator,
        "brier": {str(key): float(value) for key, value in brier.items()},
        "model_sha256": digest,
    }


def _load_booster(path: Path, names: list[str], best_iteration: int) -> xgb.Booster:
    return load_checked_booster(
        path, names, best_iteration, described_in=MODEL_JSON, nthread=thread_count(None)
    )


def _load_forest(path: Path, n_features: int) -> RandomForestClassifier:
    """Load a skops forest, trusting only the types a RandomForestClassifier needs."""
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as error:  # skops raises assorted errors for a malformed archive
        raise IncompatibleModelError(f"{path} is not a readable skops file: {error}") from None
    unexpected = sorted(set(untrusted) - _TRUSTED_SKOPS_TYPES)
    if unexpected:
        raise IncompatibleModelError(
            f"{path.name} holds types this code does not trust: {unexpected}; expected only "
            "a scikit-learn RandomForestClassifier."
        )
    try:
        estimator = skops.io.load(path, trusted=list(untrusted))
    except Exception as error:  # same: any failure to rebuild means an unusable file
        raise IncompatibleModelError(f"{path} cannot be loaded: {error}") from None
    if (
        not isinstance(estimator, RandomForestClassifier)
        or getattr(estimator, "n_features_in_", None) != n_features
        or list(getattr(estimator, "classes_", [])) != [0, 1]
    ):
        raise IncompatibleModelError(
            f"{path.name} is not a fitted 0/1 RandomForestClassifier on {n_features} features."
        )
    estimator.n_jobs = 1  # scoring parallelises over row blocks: see risk_learner.forest_positive
    return estimator


def _load_scorecard(path: Path, n_features: int) -> Scorecard:
    """A scorecard from its JSON (plain numbers), checked against the feature count."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        scorecard = Scorecard.from_dict(data)
    except (ValueError, KeyError, TypeError, ModelError) as error:
        raise IncompatibleModelError(f"{path.name} is not a readable scorecard: {error}") from None
    if len(scorecard.names) != n_features:
        raise IncompatibleModelError(
            f"{path.name} scores {len(scorecard.names)} features; the model has {n_features}."
        )
    return scorecard
