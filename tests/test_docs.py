"""The docs' generated tables and settings example must stay in sync with the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from loan_recovery import docs
from loan_recovery.config import load_settings
from loan_recovery.data import schema

ROOT = Path(__file__).resolve().parents[1]
DATA_FORMAT = ROOT / docs.DATA_FORMAT_PAGE
CONFIGURATION = ROOT / "docs" / "configuration.md"


def test_data_format_page_matches_schema() -> None:
    """Gives docs/data-format.md; expects both tables equal to the ones made from schema.py.

    Fix with: python -m loan_recovery.docs
    """
    text = DATA_FORMAT.read_text(encoding="utf-8")
    assert docs.render_data_format(text) == text


def test_table_lists_every_column_once() -> None:
    """Expects one row per canonical and optional column."""
    table = docs.data_format_table()
    for spec in schema.ALL_SPECS:
        assert table.count(f"| `{spec.name}` |") == 1


def test_payment_table_lists_every_payment_column_once() -> None:
    """Expects one row per instalment-history column, Paid_Date marked as blank when unpaid."""
    table = docs.payment_table()
    for spec in schema.PAYMENT_SPECS:
        assert table.count(f"| `{spec.name}` |") == 1
    assert "blank when not paid" in table


def test_render_refuses_a_page_without_markers() -> None:
    """Gives a page without the markers; expects a ValueError naming the missing section."""
    with pytest.raises(ValueError, match="data-format-table:start"):
        docs.render_data_format("# Data format\n")


def test_main_rewrites_a_stale_page(tmp_path: Path) -> None:
    """Gives a copy of the page with a stale table; expects main to restore the real one."""
    page = tmp_path / "data-format.md"
    current = DATA_FORMAT.read_text(encoding="utf-8")
    page.write_text(current.replace(docs.data_format_table(), "| stale |"), encoding="utf-8")
    assert docs.main([str(page)]) == 0
    assert page.read_text(encoding="utf-8") == current


def test_configuration_example_is_valid(tmp_path: Path) -> None:
    """Gives the first TOML example of docs/configuration.md; expects it to load and apply."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "settings.toml"
    config.write_text(example)
    settings = load_settings(config)
    assert settings.actions["legal"].fixed_cost == 30_000
    assert settings.simulator.logging_rule.offer_max_dpd == 90
    assert settings.risk.excluded_columns == ("Gender",)
    assert settings.explain.method == "exact"


def test_reminders_example_is_valid(tmp_path: Path) -> None:
    """Gives the [notify] example of docs/operations.md; expects it to load and apply."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "settings.toml"
    config.write_text(example)
    notify = load_settings(config).notify
    assert notify.lender_name == "Acme Finance"
    assert notify.smtp.port == 587
    assert notify.sms.url == "https://sms-gateway.example.com/v1/messages"
