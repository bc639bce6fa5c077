"""Report job: the model card of a registry version, as data, HTML or Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from loan_recovery.config import Settings
from loan_recovery.models.bundle import load_artefacts
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.models.report import ModelCard, render_model_card
from loan_recovery.render import model_choice_lines


def build_model_card(
    *, settings: Settings, models_dir: Path | None = None, version: str | None = None
) -> ModelCard:
    """Assemble the card of ``version`` (default: champion) from its verified files."""
    registry = ModelRegistry(models_dir or settings.registry_dir)
    loaded = registry.open_version(version or "champion")
    artefacts = load_artefacts(loaded.path)
    metadata = loaded.metadata
    return ModelCard(
        title=f"loan-recovery risk model {loaded.version}",
        version=loaded.version,
        created_at=str(metadata["created_at"]),
        champion_family=artefacts.champion_family,
        metrics=artefacts.metrics,
        y_true=artefacts.oof_true,
        y_score=artefacts.oof_score,
        threshold=settings.risk.decision_threshold,
        importance=artefacts.importance,
        segment_profile=artefacts.segment_profile,
        fingerprint=dict(metadata["training_data"]),
        label_definition=str(metadata["label_definition"]),
        excluded_columns=tuple(metadata["excluded_columns"]),
        calibration_method=str(metadata["calibration_method"]),
        model_choice=tuple(model_choice_lines(artefacts.model_choice)),
    )


def run_report(
    *,
    settings: Settings,
    models_dir: Path | None = None,
    version: str | None = None,
    outputs: Sequence[Path] = (),
) -> tuple[ModelCard, list[Path]]:
    """Build the card and render it to each of ``outputs`` (.html or .md, by suffix)."""
    card = build_model_card(settings=settings, models_dir=models_dir, version=version)
    return card, [render_model_card(card, out) for out in outputs]
