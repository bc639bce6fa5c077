"""A model bundle: everything one trained version holds, written to and read from the registry.

The registry itself is generic (files plus checksums); this module knows which files a
version of *this* system contains: the calibrated risk model, the segmenter, and the
evaluation artefacts the model card is drawn from.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.exceptions import IncompatibleModelError
from loan_recovery.models.outcomes import MODEL_JSON as OUTCOME_MODEL_FILE
from loan_recovery.models.outcomes import OutcomeModel
from loan_recovery.models.registry import LoadedVersion, ModelRegistry
from loan_recovery.models.risk import CalibratedRiskModel
from loan_recovery.models.segments import Segmenter
from loan_recovery.strategy.safety import PolicySafety

EVALUATION_FILE = "evaluation.json"
OUT_OF_FOLD_FILE = "out_of_fold.npz"
IMPORTANCE_FILE = "importance.json"
SEGMENT_PROFILE_FILE = "segment_profile.json"
#: The scorecard challenger's points per bin, for model-risk review (champion or not).
SCORECARD_POINTS_FILE = "scorecard_points.csv"


@dataclass(frozen=True)
class TrainingArtefacts:
    """What training learned besides the models, kept for the model card and the dashboard."""

    metrics: pd.DataFrame | None
    champion_family: str
    oof_true: npt.NDArray[np.int8] | None
    oof_score: npt.NDArray[np.float64] | None
    importance: pd.Series
    segment_profile: pd.DataFrame
    #: How the served model was chosen: the monotone decision and its cost, the boosted
    #: model's hyperparameters (and small-data search), the data profile's flags.
    model_choice: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelBundle:
    """A loaded, verified version: models ready to score plus their metadata."""

    version: str
    path: Path
    metadata: dict[str, Any]
    risk_model: CalibratedRiskModel
    segmenter: Segmenter
    outcome_model: OutcomeModel | None = None
    safety: PolicySafety | None = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Design-matrix columns the risk model was trained on."""
        return tuple(self.metadata["feature_names"])


def write_bundle_files(
    directory: Path,
    *,
    risk_model: CalibratedRiskModel,
    segmenter: Segmenter,
    artefacts: TrainingArtefacts,
    outcome_model: OutcomeModel | None = None,
    safety: PolicySafety | None = None,
    scorecard_points: pd.DataFrame | None = None,
) -> None:
    """Write every file of a version into ``directory`` (safe formats only, no pickle)."""
    if scorecard_points is not None:
        scorecard_points.to_csv(directory / SCORECARD_POINTS_FILE, index=False)
    risk_model.save(directory)
    segmenter.save(directory)
    if outcome_model is not None:
        outcome_model.save(directory)
    if safety is not None:
        safety.save(directory)
    evaluation: dict[str, Any] = {
        "champion_family": artefacts.champion_family,
        "model_choice": artefacts.model_choice,
        "metrics": None
        if artefacts.metrics is None
        else json.loads(artefacts.metrics.to_json(orient="split")),
    }
    (directory / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2), encoding="utf-8")
    if artefacts.oof_true is not None and artefacts.oof_score is not None:
        np.savez_compressed(
            directory / OUT_OF_FOLD_FILE, y_true=artefacts.oof_true, y_score=artefacts.oof_score
        )
    (directory / IMPORTANCE_FILE).write_text(
        artefacts.importance.to_json(orient="split"), encoding="utf-8"
    )
    (directory / SEGMENT_PROFILE_FILE).write_text(
        artefacts.segment_profile.to_json(orient="split"), encoding="utf-8"
    )


@dataclass(frozen=True)
class BundleRef:
    """A model version by address: its registry's folder and the version's name.

    A task sent to a Dask worker carries this instead of the models; the worker loads
    the version once (:func:`resolve_bundle`) from a registry every worker can see.
    """

    registry: Path
    version: str

    @classmethod
    def of(cls, bundle: ModelBundle) -> BundleRef:
        # A version lives in <registry>/versions/<version>.
        return cls(bundle.path.resolve().parent.parent, bundle.version)


#: The models a task runs: loaded here, or named for a worker to load.
BundleSource: TypeAlias = ModelBundle | BundleRef


def resolve_bundle(source: BundleSource) -> ModelBundle:
    """The models of ``source``: itself when loaded, else loaded once per process."""
    return _loaded(source) if isinstance(source, BundleRef) else source


@functools.lru_cache(maxsize=4)
def _loaded(ref: BundleRef) -> ModelBundle:
    return load_bundle(ModelRegistry(ref.registry), ref.version)


def load_bundle(registry: ModelRegistry, version: str | None = None) -> ModelBundle:
    """Verify and load a version (the champion by default) ready to score."""
    loaded = registry.open_version(version or "champion")
    return _bundle_from(loaded)


def _bundle_from(loaded: LoadedVersion) -> ModelBundle:
    risk_model = CalibratedRiskModel.load(loaded.path)
    recorded = tuple(loaded.metadata.get("feature_names", ()))
    if tuple(risk_model.base_.feature_names_in_) != recorded:
        raise IncompatibleModelError(
            f"version {loaded.version}: the risk model's features differ from its metadata."
        )
    return ModelBundle(
        version=loaded.version,
        path=loaded.path,
        metadata=dict(loaded.metadata),
        risk_model=risk_model,
        segmenter=Segmenter.load(loaded.path),
        outcome_model=(
            OutcomeModel.load(loaded.path) if (loaded.path / OUTCOME_MODEL_FILE).is_file() else None
        ),
        safety=PolicySafety.load(loaded.path),
    )


def load_artefacts(path: Path) -> TrainingArtefacts:
    """Read the evaluation artefacts of a version folder (already verified by the registry)."""
    evaluation = json.loads((path / EVALUATION_FILE).read_text(encoding="utf-8"))
    metrics_split = evaluation.get("metrics")
    metrics = (
        None
        if metrics_split is None
        else pd.DataFrame(
            metrics_split["data"], index=metrics_split["index"], columns=metrics_split["columns"]
        )
    )
    oof_true: npt.NDArray[np.int8] | None = None
    oof_score: npt.NDArray[np.float64] | None = None
    oof_path = path / OUT_OF_FOLD_FILE
    if oof_path.is_file():
        with np.load(oof_path, allow_pickle=False) as arrays:
            oof_true = np.asarray(arrays["y_true"], dtype=np.int8)
            oof_score = np.asarray(arrays["y_score"], dtype=np.float64)
    importance_split = json.loads((path / IMPORTANCE_FILE).read_text(encoding="utf-8"))
    importance = pd.Series(
        importance_split["data"], index=importance_split["index"], name=importance_split["name"]
    )
    profile_split = json.loads((path / SEGMENT_PROFILE_FILE).read_text(encoding="utf-8"))
    profile = pd.DataFrame(
        profile_split["data"], index=profile_split["index"], columns=profile_split["columns"]
    )
    return TrainingArtefacts(
        metrics=metrics,
        champion_family=str(evaluation["champion_family"]),
        oof_true=oof_true,
        oof_score=oof_score,
        importance=importance,
        segment_profile=profile,
        model_choice=dict(evaluation.get("model_choice") or {}),
    )
