"""Profile job: what a labelled loan file says about the risk label, before any model.

It runs the training pipeline's first steps (validate with the label required, the risk
design matrix, the risk label) and profiles the result with
:func:`loan_recovery.models.profile.profile_features`, so the profile describes exactly
the columns and rows a model trained on the file would see, plus the post-outcome columns
it is kept from seeing. Flags are findings, not errors: the job fails only when the file
is unusable or no row survives validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, StrictUndefined
from rich.console import Group
from rich.table import Table
from rich.text import Text

from loan_recovery.config import Settings
from loan_recovery.exceptions import TrainingDataError
from loan_recovery.jobs.validate import ValidateOutcome, run_validate
from loan_recovery.models.design import risk_design_matrix, risk_label
from loan_recovery.models.profile import (
    TABLE_LEVEL,
    DataProfile,
    display_rows,
    profile_features,
    profile_summary,
)

#: Self-contained page: inline CSS, no scripts; autoescape on, so every value is escaped.
HTML_TEMPLATE: Final = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data profile — {{ source }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
         max-width: 76rem; padding: 0 1rem; color: #222; line-height: 1.45; }
  h1 { margin-bottom: 0.2rem; }
  .subtitle, .note { color: #555; }
  .note { font-size: 0.85rem; }
  table { border-collapse: collapse; margin: 0.6rem 0 1.4rem; font-size: 0.9rem; }
  th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; }
  th:first-child, td:first-child, td.text { text-align: left; }
  thead th { background: #f3f5f8; }
  tr.flagged td { background: #fff4e5; }
  tr.outside td { font-style: italic; }
  dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.25rem 1rem; }
  dl.facts dt { font-weight: 600; }
  dl.facts dd { margin: 0; }
  ul.findings li { margin-bottom: 0.3rem; }
</style>
</head>
<body>
<header>
  <h1>Data profile</h1>
  <p class="subtitle">{{ source }} · {{ label_definition }}</p>
</header>

<section id="summary">
  <h2>Summary</h2>
  <dl class="facts">
    <dt>Rows</dt><dd>{{ validation.rows_read }} read, {{ validation.accepted }} accepted, \
{{ validation.rejected }} rejected</dd>
    <dt>Label</dt><dd>{{ summary }}</dd>
    <dt>Leak threshold</dt><dd>single-column AUC above {{ leak_auc }} (either way)</dd>
    <dt>Direction</dt><dd>none when |AUC − 0.5| &lt; {{ tolerance }}</dd>
  </dl>
</section>

<section id="findings">
  <h2>Findings</h2>
  {% if flags %}
  <ul class="findings">
  {% for flag in flags %}
    <li><strong>{{ flag.flag }}</strong> — <code>{{ flag.feature }}</code>: {{ flag.reason }}</li>
  {% endfor %}
  </ul>
  {% else %}
  <p>No findings.</p>
  {% endif %}
</section>

<section id="features">
  <h2>Features</h2>
  <p class="note">AUC: each column alone as a score for the label, missing rows left out.
  Direction: +1 higher values go with more risk, −1 with less, 0 neither (observed / expected).
  Italic rows are not model inputs.</p>
  <table>
    <thead><tr><th>feature</th><th>description</th><th>type</th><th>missing</th>\
<th>distinct</th><th>AUC</th><th>direction obs / exp</th><th>flags</th></tr></thead>
    <tbody>
    {% for row in rows %}
      <tr class="{{ row.css }}">\
<td>{{ row.feature }}</td><td class="text">{{ row.description }}</td>\
<td class="text">{{ row.kind }}</td><td>{{ row.missing }}</td><td>{{ row.distinct }}</td>\
<td>{{ row.auc }}</td><td>{{ row.direction }}</td><td class="text">{{ row.flags }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
</section>
</body>
</html>
"""


@dataclass(frozen=True)
class ProfileOutcome:
    """The profiled file, its validation and the profile of its accepted rows."""

    source: Path
    validation: ValidateOutcome
    label_definition: str
    profile: DataProfile

    def validation_summary(self) -> dict[str, Any]:
        """Counts as ``validate --json`` prints them, plus where rejected rows went."""
        result = self.validation.result
        quarantine = self.validation.quarantine_path
        return {
            "rows_read": result.rows_read,
            "accepted": result.accepted,
            "rejected": result.rejected,
            "reasons": result.reason_counts(),
            "warnings": len(result.warnings),
            "warning_reasons": result.warning_counts(),
            "quarantine": None if quarantine is None else str(quarantine),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the file, its validation, the label and the profile's keys."""
        return {
            "file": str(self.source),
            "validation": self.validation_summary(),
            "label_definition": self.label_definition,
            **self.profile.to_dict(),
        }


def run_profile(
    path: Path, *, settings: Settings, mapping_path: Path | None = None
) -> ProfileOutcome:
    """Validate ``path`` as training data and profile its risk features against the label."""
    validation = run_validate(
        path, settings=settings, mapping_path=mapping_path, require_label=True
    )
    result = validation.result
    if result.accepted == 0:
        raise TrainingDataError(
            f"no valid labelled row to profile: all {result.rows_read} rows were rejected "
            f"(kept in {validation.quarantine_path})."
        )
    table = result.table
    design = risk_design_matrix(table, settings.risk)
    label = risk_label(table, settings.risk)
    statuses = " or ".join(settings.risk.not_recovered_statuses)
    return ProfileOutcome(
        source=Path(path),
        validation=validation,
        label_definition=f"Not recovered: Recovery_Status is {statuses}",
        profile=profile_features(design, label, table=table),
    )


def profile_html(outcome: ProfileOutcome) -> str:
    """The profile as one self-contained HTML page (every value escaped)."""
    profile = outcome.profile
    environment = Environment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    return environment.from_string(HTML_TEMPLATE).render(
        source=str(outcome.source),
        label_definition=outcome.label_definition,
        validation=outcome.validation_summary(),
        summary=profile_summary(profile),
        leak_auc=f"{profile.leak_auc:g}",
        tolerance=f"{profile.direction_tolerance:g}",
        flags=profile.flags,
        rows=[{**row, "css": " ".join(_row_classes(row))} for row in display_rows(profile)],
    )


def _row_classes(row: dict[str, str]) -> list[str]:
    return [
        name for name, on in (("flagged", row["flags"]), ("outside", row["in_model"] == "no")) if on
    ]


def write_profile_html(outcome: ProfileOutcome, out: Path) -> Path:
    """Write :func:`profile_html` to ``out`` (folders created); return ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(profile_html(outcome), encoding="utf-8", newline="\n")
    return out


def profile_rich_tables(outcome: ProfileOutcome) -> Group:
    """Features (type, missing %, distinct, AUC, direction, flags), then the findings."""
    profile = outcome.profile
    features = Table(title=f"Data profile of {outcome.source} ({outcome.label_definition})")
    for header in ("feature", "type", "missing %", "distinct", "AUC", "dir obs/exp", "flags"):
        numeric = header in ("missing %", "distinct", "AUC", "dir obs/exp")
        features.add_column(header, justify="right" if numeric else "left", overflow="fold")
    for row in display_rows(profile):
        style = "italic" if row["in_model"] == "no" else None
        cells = ("feature", "kind", "missing", "distinct", "auc", "direction", "flags")
        features.add_row(*(Text(row[key]) for key in cells), style=style)
    findings = Table(title="Findings" if profile.flags else "Findings: none")
    for header in ("flag", "feature", "reason"):
        findings.add_column(header, overflow="fold")
    for flag in profile.flags:
        style = "bold" if flag.feature == TABLE_LEVEL else None
        findings.add_row(Text(flag.flag), Text(flag.feature), Text(flag.reason), style=style)
    note = Text(profile_summary(profile) + " Italic rows are not model inputs.")
    return Group(features, note, findings)
