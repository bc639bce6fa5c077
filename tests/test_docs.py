"""The README's data-format table is generated from the schema and must stay in sync."""

from __future__ import annotations

from pathlib import Path

from loan_recovery import docs
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
