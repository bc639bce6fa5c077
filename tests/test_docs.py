"""The README's data-format table is generated from the schema and must stay in sync."""

from __future__ import annotations

from pathlib import Path

from loan_recovery import docs
from loan_recovery.config import load_settings
from loan_recovery.data import schema

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_data_format_table_matches_schema() -> None:
    """Gives the README; expects its table equal to the one generated from schema.py.

    Fix with: python -m loan_recovery.docs README.md
    """
    text = README.read_text(encoding="utf-8")
    assert docs.render_readme(text) == text


def test_table_lists_every_column_once() -> None:
    """Expects one row per canonical and optional column."""
    table = docs.data_format_table()
    for spec in schema.ALL_SPECS:
        assert table.count(f"| `{spec.name}` |") == 1


def test_readme_configuration_example_is_valid(tmp_path: Path) -> None:
    """Gives the README's settings example; expects it to load and take effect."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "settings.toml"
    config.write_text(example)
    settings = load_settings(config)
    assert settings.actions["legal"].fixed_cost == 30_000
    assert settings.simulator.logging_rule.offer_max_dpd == 90
    assert settings.risk.excluded_columns == ("Gender",)
    assert settings.explain.method == "exact"
