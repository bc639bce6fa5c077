"""Every amount on every dashboard page reads as ``[display]`` says: en_IN by default.

Each page is driven through AppTest and everything a reader sees is collected (tiles,
text, table cells as displayed, chart labels and hover values, see ``screen_text``).
Then: every rupee amount is grouped the Indian way (₹12,45,356, never ₹1,245,356), no
7+ digit number anywhere is grouped in thousands, every money column of every table is
formatted by the app (not left to the browser's locale), and totals carry no paise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from screen_text import (
    amounts,
    badly_grouped,
    chart_texts,
    page_texts,
    shown_tables,
    table_amounts,
    unformatted_money_columns,
)
from streamlit.testing.v1 import AppTest

from loan_recovery.dashboard.launch import APP_PATH
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table

PAGES = APP_PATH.parent / "pages"
APP_TIMEOUT = 180  # seconds: first runs load models, plan the book or run the simulator
#: Tiles that are one loan's instalment, not a total: shown with paise on purpose.
PER_LOAN_TILES = ("Monthly EMI",)
#: Reason sentences ("Amount lent is 39,94,000: raises risk"), written by models/explain.py
#: before the page; checked on their own below, as well as among the page's texts.
REASON_COLUMNS = frozenset(schema.reason_column(rank) for rank in range(1, 21))


def run(page: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / page), default_timeout=APP_TIMEOUT)
    at.run()
    assert not at.exception, [error.value for error in at.exception]
    return at


def assessed() -> AppTest:
    """The Assess page after submitting the form as the page seeds it."""
    at = run("assess.py")
    at.button(key="assess_submit").click().run()
    assert not at.exception, [error.value for error in at.exception]
    assert not at.error, [error.value for error in at.error]
    return at


def check_page(at: AppTest, *, least: int) -> list[str]:
    """The page's texts after asserting every amount rule; ``least`` amounts must be found."""
    texts = page_texts(at) + chart_texts(at)
    found = amounts(texts)
    assert len(found) >= least, [match.group(0) for match in found]
    assert badly_grouped(texts) == []
    assert unformatted_money_columns(at) == []
    totals = [
        metric.value
        for metric in at.metric
        if not any(metric.proto.label.startswith(tile) for tile in PER_LOAN_TILES)
    ]
    with_paise = [text for text in totals + table_amounts(at) + chart_texts(at) if _paise(text)]
    assert with_paise == []
    return texts


def _paise(text: str) -> bool:
    """Whether ``text`` holds an amount with a fraction of a rupee (lakh/crore units aside)."""
    return any(
        match["fraction"] and not match.group(0).endswith(("crore", "lakh"))
        for match in amounts([text])
    )


@pytest.mark.parametrize(
    ("page", "least"),
    [("portfolio.py", 20), ("worklist.py", 100), ("strategy_lab.py", 50), ("performance.py", 3)],
)
def test_every_amount_on_the_page_is_grouped_in_lakhs_and_crores(
    dashboard_env: Any, page: str, least: int
) -> None:
    """Gives the default settings (en_IN, INR); expects each page's amounts Indian-grouped,
    no thousands-grouped 7+ digit number, money tables formatted by the app, no paise."""
    check_page(run(page), least=least)


def test_reason_sentences_on_the_worklist_group_amounts_in_lakhs(dashboard_env: Any) -> None:
    """Gives the worklist's reason columns; expects their amounts in Indian groups."""
    at = run("worklist.py")
    reasons = [
        str(cell)
        for values, display in shown_tables(at)
        if display is not None
        for position, column in enumerate(values.columns)
        if column in REASON_COLUMNS
        for cell in display.iloc[:, position]
    ]
    assert reasons
    assert badly_grouped(reasons) == []


def test_the_assessed_loan_reads_in_indian_groups(dashboard_env: Any) -> None:
    """Gives the Assess page's seeded loan, submitted; expects its tiles, uplift chart and
    ratios to follow the same rules (the EMI tile alone keeps its paise)."""
    texts = check_page(assessed(), least=10)
    assert any(re.fullmatch(r"₹[\d,]+\.\d{2}", text) for text in texts)  # the EMI


def test_alert_counts_are_grouped_for_the_locale(demo_env: Any) -> None:
    """Gives the small demo's alerts; expects no thousands-grouped 7+ digit number and no
    money column left to the browser."""
    at = run("alerts.py")
    texts = page_texts(at) + chart_texts(at)
    assert badly_grouped(texts) == []
    assert unformatted_money_columns(at) == []


def test_the_portfolio_exposure_reaches_crores_and_reads_so(dashboard_env: Any) -> None:
    """Gives the 1,500-loan book (exposure over a crore); expects the tile in crore groups,
    the segment table's exposure cells the same, and none of them in thousands groups."""
    at = run("portfolio.py")
    exposure = float(
        read_raw_table(dashboard_env.portfolio)[schema.OUTSTANDING_LOAN_AMOUNT].astype(float).sum()
    )
    assert exposure >= 1e7
    tiles = {metric.proto.label: metric.value for metric in at.metric}
    assert re.fullmatch(r"₹\d{1,2}(,\d{2}){2,},\d{3}", tiles["Exposure"])
    cells = table_amounts(at)
    assert cells
    assert all(cell.startswith("₹") and "." not in cell for cell in cells)


@pytest.mark.parametrize(
    ("environment", "pattern"),
    [
        ({"LOCALE": "en_US", "CURRENCY": "USD"}, r"\$\d{1,3}(,\d{3})+"),
        ({"LOCALE": "de_DE", "CURRENCY": "EUR"}, r"\d{1,3}(\.\d{3})+\s€"),
        ({"UNITS": "crore_lakh"}, r"₹[\d,]+\.\d{2} crore"),
    ],
)
def test_other_locales_and_units_come_from_the_display_settings(
    dashboard_env: Any, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], pattern: str
) -> None:
    """Gives LOAN_RECOVERY_DISPLAY__* settings; expects the Portfolio page's exposure tile
    and every rupee-free amount written that way (US thousands, German dots, crores)."""
    for name, value in environment.items():
        monkeypatch.setenv(f"LOAN_RECOVERY_DISPLAY__{name}", value)
    at = run("portfolio.py")
    tiles = {metric.proto.label: metric.value for metric in at.metric}
    assert re.fullmatch(pattern, tiles["Exposure"]), tiles["Exposure"]
    if "CURRENCY" in environment:
        assert not amounts(page_texts(at) + chart_texts(at))  # no ₹ left anywhere


def test_a_page_without_the_rules_would_fail(tmp_path: Path) -> None:
    """The checks themselves: thousands groups, paise and bare money columns are caught."""
    assert badly_grouped(["Exposure ₹1,245,356"]) == ["₹1,245,356", "1,245,356"]
    assert badly_grouped(["12,453,569,501 loans"]) == ["12,453,569,501"]
    assert badly_grouped(["₹12,45,35,69,501", "₹999", "-₹12,345", "₹1,245.36 crore"]) == []
    assert _paise("₹1,745,813,306.955")
    assert not _paise("₹1,245.36 crore")
    script = tmp_path / "bare.py"
    script.write_text(
        "import pandas as pd\nimport streamlit as st\n"
        "st.dataframe(pd.DataFrame({'Exposure': [1745813306.955]}))\n"
    )
    at = AppTest.from_file(str(script))
    at.run()
    assert unformatted_money_columns(at) == [schema.EXPOSURE]
