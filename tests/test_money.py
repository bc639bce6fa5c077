"""Money formatting: one Babel-based implementation for screens, tables, Excel and reminders.

Known answers are written out by hand (₹12,45,35,69,501 is how an Indian reader groups
12453569501); the command-line summaries are rendered with rich and searched for any
amount that is not grouped the Indian way or carries paise in a table of totals.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from loan_recovery.config import DisplaySettings
from loan_recovery.data import schema
from loan_recovery.jobs.evaluate import EvaluationReport, PolicyReport, PolicyValue
from loan_recovery.money import MONEY_COLUMNS, MoneyFormat
from loan_recovery.portfolio import summarise_portfolio
from loan_recovery.render import (
    evaluation_table,
    plan_summary_table,
    portfolio_tables,
    validation_tables,
)
from loan_recovery.simulation.portfolio import SimulatedPortfolio
from loan_recovery.strategy.policy import CapacityPlan

INDIA = MoneyFormat()
CRORE_LAKH = MoneyFormat(DisplaySettings(units="crore_lakh"))
US = MoneyFormat(DisplaySettings(locale="en_US", currency="USD"))
GERMANY = MoneyFormat(DisplaySettings(locale="de_DE", currency="EUR"))
#: A number of 4+ digits as a table cell writes it (grouped), with any fraction.
NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{2,3})+(?:\.\d+)?(?![\d,])")
INDIAN_DIGITS = re.compile(r"\d{1,3}|\d{1,2}(?:,\d{2})*,\d{3}")


@pytest.mark.parametrize(
    ("money", "value", "text"),
    [
        (INDIA, 12_453_569_501, "₹12,45,35,69,501"),
        (INDIA, 1_245_356.4, "₹12,45,356"),
        (INDIA, 99_999.4, "₹99,999"),
        (INDIA, -1_234_567, "-₹12,34,567"),
        (INDIA, -0.4, "₹0"),
        (INDIA, 2.5, "₹2"),  # half to even: no systematic drift in sums
        (CRORE_LAKH, 12_453_569_501, "₹1,245.36 crore"),
        (CRORE_LAKH, 1_245_000, "₹12.45 lakh"),
        (CRORE_LAKH, 99_999.6, "₹1.00 lakh"),  # rounds into the next unit, not ₹1,00,000
        (CRORE_LAKH, 99_999, "₹99,999"),
        (CRORE_LAKH, -25_000_000, "-₹2.50 crore"),
        (US, 12_453_569_501, "$12,453,569,501"),
        (GERMANY, 12_453_569_501, "12.453.569.501\xa0€"),
        (GERMANY, 1_245_000, "1.245.000\xa0€"),
    ],
)
def test_amounts_follow_the_locale_and_units(money: MoneyFormat, value: float, text: str) -> None:
    """Expects lakh and crore groups for en_IN, units on request, the locale's elsewhere."""
    assert money.amount(value) == text


def test_decimals_symbol_and_exact() -> None:
    """Expects the currency's own minor units on request, a bare number for tables whose
    header names the currency, exact amounts past any unit, and a dash for missing."""
    assert INDIA.amount(123_456.5, decimals=None) == "₹1,23,456.50"
    assert INDIA.amount(12_453_569_501, symbol=False) == "12,45,35,69,501"
    assert CRORE_LAKH.amount(12_45_000.5, decimals=2, exact=True) == "₹12,45,000.50"
    assert CRORE_LAKH.amount(12_45_000, symbol=False) == "12.45 lakh"
    assert INDIA.amount(None) == "—"
    assert INDIA.amount(float("nan")) == "—"
    assert MoneyFormat(DisplaySettings(currency="JPY", locale="ja_JP")).amount(
        1234.5, decimals=None
    ) == ("￥1,234")


def test_counts_ticks_and_symbols() -> None:
    """Expects counts grouped like amounts, axis ticks without trailing zeros in units."""
    assert INDIA.number(1_234_567) == "12,34,567"
    assert US.number(1_234_567) == "1,234,567"
    assert GERMANY.number(1_234_567.891, decimals=2) == "1.234.567,89"
    assert CRORE_LAKH.tick(2e9) == "₹200 crore"
    assert CRORE_LAKH.tick(2.5e6) == "₹25 lakh"
    assert INDIA.tick(2e9) == "₹2,00,00,00,000"
    assert (INDIA.symbol, US.symbol, GERMANY.symbol) == ("₹", "$", "€")
    assert INDIA.indian_grouping
    assert not US.indian_grouping


def test_excel_formats_group_lakhs_by_condition_and_name_money_columns() -> None:
    """Expects size conditions for Indian grouping (Excel only groups by the viewer's
    settings), plain thousands with the symbol where the locale puts it, and a format for
    exactly the money columns of a frame."""
    assert INDIA.excel_format() == (
        '[>=10000000]"₹"##\\,##\\,##\\,##0;[>=100000]"₹"##\\,##\\,##0;"₹"#,##0'
    )
    assert US.excel_format() == '"$"#,##0'
    assert GERMANY.excel_format() == '#,##0" €"'
    columns = [schema.LOAN_ID, schema.EXPECTED_NET_RECOVERY, schema.RISK_SCORE, "value_hold"]
    assert INDIA.excel_formats(columns) == {
        schema.EXPECTED_NET_RECOVERY: INDIA.excel_format(),
        "value_hold": INDIA.excel_format(),
    }
    assert schema.OUTSTANDING_LOAN_AMOUNT in MONEY_COLUMNS
    assert schema.RISK_SCORE not in MONEY_COLUMNS


# --- command-line summaries -------------------------------------------------------------------
def rendered(renderable: Any) -> str:
    console = Console(record=True, width=250, color_system=None)
    console.print(renderable)
    return console.export_text()


def wrongly_written(text: str) -> list[str]:
    """Numbers of the output not grouped the Indian way, or carrying a fraction."""
    return [
        match.group(0)
        for match in NUMBER.finditer(text)
        if "." in match.group(0) or not INDIAN_DIGITS.fullmatch(match.group(0))
    ]


@dataclass(frozen=True)
class CannedPlan:
    """A plan's totals in the crores, with a priced budget (PlanTotals protocol)."""

    policy: str = "learned"
    baseline_policy: str = "bau"
    capacity_plan: CapacityPlan | None = None

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                schema.LOANS: [1_250_000, 40_000],
                schema.EXPECTED_RECOVERED: [8_442_652_136.7, 1_234_567.25],
                schema.EXPECTED_COST: [245_408_609.4, 98_765.5],
                schema.EXPECTED_NET_RECOVERY: [8_197_243_527.3, 1_135_801.75],
                schema.EXPECTED_UPLIFT: [1_745_813_306.955, 12_345.5],
            },
            index=pd.Index(["call", "legal"], name=schema.RECOMMENDED_ACTION),
        )

    def totals(self) -> dict[str, float]:
        return {
            "expected_net": 8_198_379_329.05,
            "value_if_all_left_alone": 6_451_421_000.5,
            "incremental_net": 1_746_958_328.55,
            "baseline_expected_net": 7_999_000_000.25,
            "gain_over_baseline": 199_379_328.8,
        }


def test_plan_summary_is_grouped_in_lakhs_without_paise() -> None:
    """Gives plan totals in the crores; expects every amount and count Indian-grouped in
    whole rupees, the currency named in the headers, and crore units on request."""
    text = rendered(plan_summary_table(CannedPlan()))
    assert wrongly_written(text) == []
    assert "1,74,58,13,307" in text  # the Strategy lab's 1,745,813,306.955, as it should read
    assert "12,50,000" in text
    assert "expected net (₹)" in text
    assert "1,745,813,306" not in text
    units = rendered(plan_summary_table(CannedPlan(), money=CRORE_LAKH))
    assert "174.58 crore" in units
    assert "11.36 lakh" in units


def test_evaluation_table_writes_policies_in_indian_groups() -> None:
    """Gives policies netting crores; expects net, gain and DR interval Indian-grouped."""
    report = EvaluationReport(
        loans=1_500_000,
        seed=7,
        same_capacity=True,
        capacity={"legal": 125_000},
        policies={
            name: PolicyReport(
                value=PolicyValue(
                    net_recovery=net, recovered=net * 1.1, cost=net * 0.1, loans=5, exposure=1e9
                ),
                incremental_net=net * 0.2,
                vs_bau=0.1,
                capture=0.5,
                dr=net * 0.95,
                dr_ci95=(net * 0.9, net * 1.05),
                p_beats_bau=0.8,
            )
            for name, net in (("learned", 1_745_813_306.955), ("bau", 1_600_000_000.5))
        },
    )
    text = rendered(evaluation_table(report))
    assert wrongly_written(text) == []
    assert "1,74,58,13,307" in text
    assert "15,00,000 fresh simulated loans" in text
    assert "legal 1,25,000" in text


def test_portfolio_and_validation_tables_group_counts_and_exposure(
    small_portfolio: SimulatedPortfolio,
) -> None:
    """Gives the simulated book; expects its exposure (crores) and every count grouped the
    Indian way in whole rupees, the en_US display Western, each from the same function."""
    summary = summarise_portfolio(small_portfolio.loans)
    text = rendered(portfolio_tables(summary))
    assert wrongly_written(text) == []
    exposure = summary.totals[schema.EXPOSURE]
    assert exposure >= 1e7
    assert INDIA.amount(exposure, symbol=False) in text
    assert US.amount(exposure, symbol=False) in rendered(portfolio_tables(summary, money=US))

    class Counts:
        """A streamed book's validation tally in the lakhs (ValidationCounts protocol)."""

        rows_read, accepted, rejected = 2_345_678, 2_345_000, 678
        issues = pd.DataFrame(columns=["line", "column", "reason", "message"])

        def reason_counts(self) -> dict[str, int]:
            return {"out_of_range": 678}

        def warning_counts(self) -> dict[str, int]:
            return {"bad_email": 1_234_567}

    counts = rendered(validation_tables(Counts(), "book.csv"))
    assert wrongly_written(counts) == []
    assert "23,45,678" in counts
    assert "12,34,567 warning(s)" in counts


def test_an_excel_plan_shows_money_in_the_display_grouping(tmp_path: Path) -> None:
    """Gives a plan written as .xlsx; expects money cells in the display's number format
    and their exact values, other cells untouched."""
    from openpyxl import load_workbook

    from loan_recovery.jobs.plan import write_plan

    worklist = pd.DataFrame(
        {schema.LOAN_ID: ["L1", "L2"], schema.EXPECTED_NET_RECOVERY: [12_45_35_695.5, -120.0]}
    )
    path = write_plan(worklist, tmp_path / "plan.xlsx", INDIA.display)
    sheet = load_workbook(path).active
    money = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert [cell.number_format for cell in money] == [INDIA.excel_format()] * 2
    assert [cell.value for cell in money] == [124535695.5, -120.0]
    assert sheet["A2"].number_format == "General"
