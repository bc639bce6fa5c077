"""Worklist filters and downloads on hand-made frames with answers worked out by hand."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from loan_recovery.config import DisplaySettings
from loan_recovery.dashboard.worklist_filters import (
    EXCEL_SHEET,
    WorklistFilter,
    csv_bytes,
    excel_bytes,
    filter_worklist,
    options,
    with_loan_columns,
)
from loan_recovery.data import schema
from loan_recovery.money import MoneyFormat


def loan_table() -> pd.DataFrame:
    """Four loans: DPD 0, 15, 75 and 200, outstanding 10k, 50k, 100k and 500k."""
    return pd.DataFrame(
        {
            schema.LOAN_ID: ["L1", "L2", "L3", "L4"],
            schema.BORROWER_ID: ["B1", "B2", "B3", "B4"],
            schema.LOAN_TYPE: ["Personal", "Home", "Auto", "Business"],
            schema.DAYS_PAST_DUE: [0, 15, 75, 200],
            schema.OUTSTANDING_LOAN_AMOUNT: [10_000.0, 50_000.0, 100_000.0, 500_000.0],
        }
    )


def plan_worklist() -> pd.DataFrame:
    """The plan's worklist of those loans in priority order (L4 first)."""
    return pd.DataFrame(
        {
            schema.LOAN_ID: ["L4", "L3", "L2", "L1"],
            schema.RECOMMENDED_ACTION: ["legal", "settlement", "call", "reminder"],
            schema.EXPECTED_NET_RECOVERY: [90_000.0, 40_000.0, 8_000.0, 100.0],
            schema.SEGMENT_NAME: ["Deep arrears", "In arrears", "Current", "Current"],
        }
    )


@pytest.fixture
def view() -> pd.DataFrame:
    """The worklist with loan columns beside it."""
    return with_loan_columns(plan_worklist(), loan_table())


def test_loan_columns_follow_the_worklist_order(view: pd.DataFrame) -> None:
    """Each plan row gets its own loan's exposure, DPD, bucket and RBI asset class."""
    assert list(view[schema.LOAN_ID]) == ["L4", "L3", "L2", "L1"]
    assert list(view[schema.OUTSTANDING_LOAN_AMOUNT]) == [500_000.0, 100_000.0, 50_000.0, 10_000.0]
    assert list(view[schema.BORROWER_ID]) == ["B4", "B3", "B2", "B1"]
    assert list(view[schema.DPD_BUCKET].astype(str)) == ["180+", "61-90", "1-30", "0"]
    assert list(view[schema.ASSET_CLASS].astype(str)) == ["NPA", "SMA-2", "SMA-0", "Standard"]
    assert list(view[schema.RECOMMENDED_ACTION]) == ["legal", "settlement", "call", "reminder"]


def test_a_loan_with_snapshots_takes_its_last_row() -> None:
    """Two rows of L1 (DPD 0 then 45): the worklist shows the later one, no extra rows."""
    table = pd.concat(
        [loan_table(), loan_table().iloc[[0]].assign(**{schema.DAYS_PAST_DUE: 45})],
        ignore_index=True,
    )
    view = with_loan_columns(plan_worklist(), table)
    assert len(view) == 4
    assert view.loc[view[schema.LOAN_ID] == "L1", schema.DAYS_PAST_DUE].item() == 45


def test_no_filter_keeps_everything_in_order(view: pd.DataFrame) -> None:
    """The default filter is inactive and keeps every row in priority order."""
    chosen = WorklistFilter()
    assert not chosen.active
    pd.testing.assert_frame_equal(filter_worklist(view, chosen), view)


@pytest.mark.parametrize(
    ("chosen", "expected"),
    [
        (WorklistFilter(segments=("Current",)), ["L2", "L1"]),
        (WorklistFilter(actions=("legal", "call")), ["L4", "L2"]),
        (WorklistFilter(dpd_buckets=("0", "61-90")), ["L3", "L1"]),
        (WorklistFilter(asset_classes=("NPA",)), ["L4"]),
        (WorklistFilter(min_exposure=50_000), ["L4", "L3", "L2"]),
        (WorklistFilter(segments=("Current",), min_exposure=20_000), ["L2"]),
        (WorklistFilter(actions=("agency",)), []),
    ],
)
def test_each_filter_keeps_the_matching_loans(
    view: pd.DataFrame, chosen: WorklistFilter, expected: list[str]
) -> None:
    """Filters combine with AND; values inside one filter with OR; order is kept."""
    assert chosen.active
    assert list(filter_worklist(view, chosen)[schema.LOAN_ID]) == expected


def test_a_filter_on_a_missing_column_keeps_nothing() -> None:
    """Without the loan columns, a DPD or exposure filter cannot pass anything silently."""
    bare = plan_worklist()
    assert filter_worklist(bare, WorklistFilter(dpd_buckets=("0",))).empty
    assert filter_worklist(bare, WorklistFilter(min_exposure=1.0)).empty
    assert len(filter_worklist(bare, WorklistFilter(actions=("call",)))) == 1


def test_options_follow_the_given_order_then_sort(view: pd.DataFrame) -> None:
    """Known order first (only values present), then anything else alphabetically."""
    assert options(view, schema.DPD_BUCKET, schema.DPD_BUCKETS) == ["0", "1-30", "61-90", "180+"]
    assert options(view, schema.SEGMENT_NAME) == ["Current", "Deep arrears", "In arrears"]
    assert options(view, "not a column") == []


def test_downloads_read_back_as_the_same_table(view: pd.DataFrame) -> None:
    """CSV and Excel bytes hold every row and column of the filtered worklist."""
    filtered = filter_worklist(view, WorklistFilter(min_exposure=50_000))
    from_csv = pd.read_csv(io.BytesIO(csv_bytes(filtered)))
    from_excel = pd.read_excel(
        io.BytesIO(excel_bytes(filtered, MoneyFormat())), sheet_name=EXCEL_SHEET
    )
    for frame in (from_csv, from_excel):
        assert list(frame.columns) == list(filtered.columns)
        assert list(frame[schema.LOAN_ID]) == ["L4", "L3", "L2"]
        assert list(frame[schema.ASSET_CLASS]) == ["NPA", "SMA-2", "SMA-0"]
        assert list(frame[schema.EXPECTED_NET_RECOVERY]) == [90_000.0, 40_000.0, 8_000.0]


@pytest.mark.parametrize(
    ("display", "code"),
    [
        ({}, '[>=10000000]"₹"##\\,##\\,##\\,##0;[>=100000]"₹"##\\,##\\,##0;"₹"#,##0'),
        ({"locale": "en_US", "currency": "USD"}, '"$"#,##0'),
        ({"locale": "de_DE", "currency": "EUR"}, '#,##0" €"'),
    ],
)
def test_excel_money_cells_carry_the_display_number_format(
    view: pd.DataFrame, display: dict[str, str], code: str
) -> None:
    """Gives the worklist; expects every money cell in the display's whole-unit format (lakh
    and crore groups for en_IN, which Excel cannot do from the viewer's settings), its
    exact value kept, and other columns left as they are."""
    import openpyxl

    data = excel_bytes(view, MoneyFormat(DisplaySettings(**display)))
    sheet = openpyxl.load_workbook(io.BytesIO(data))[EXCEL_SHEET]
    header = [cell.value for cell in sheet[1]]
    net = header.index(schema.EXPECTED_NET_RECOVERY) + 1
    outstanding = header.index(schema.OUTSTANDING_LOAN_AMOUNT) + 1
    loan_id = header.index(schema.LOAN_ID) + 1
    for row in range(2, sheet.max_row + 1):
        assert sheet.cell(row, net).number_format == code
        assert sheet.cell(row, outstanding).number_format == code
        assert sheet.cell(row, loan_id).number_format == "General"
    assert sheet.cell(2, net).value == view[schema.EXPECTED_NET_RECOVERY].iloc[0]
