"""What a reader sees on a page driven by AppTest: every text, tile, table cell and chart label.

Tables are read through their Styler's display values (what the browser shows), not the
numbers underneath; charts through the strings of their Plotly spec (tick labels, cell and
bar text, hover values). The amount checks then say how every amount is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from typing import Any

import pandas as pd
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from loan_recovery.money import MONEY_COLUMNS

#: An amount in rupees as the dashboard writes it: sign, symbol, digits, optional unit.
RUPEES = re.compile(r"[-+]?₹-?(?P<digits>[\d,]+)(?P<fraction>\.\d+)?(?:\s(?:crore|lakh))?")
#: Digits grouped the Indian way: up to three, or pairs then a final three (12,34,567).
INDIAN_DIGITS = re.compile(r"\d{1,3}|\d{1,2}(?:,\d{2})*,\d{3}")
#: Thousands grouping of a number of seven or more digits (1,234,567): never Indian.
WESTERN_SEVEN_DIGITS = re.compile(r"\d{1,3}(?:,\d{3}){2,}")
#: Plotly colours (``rgb(247,251,255)``): commas, but not numbers anyone reads.
COLOUR = re.compile(r"rgba?\(")


def shown_tables(at: AppTest) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """Each table on the page: (its values, its display text or None without a Styler)."""
    for element in at.dataframe:
        display = element.proto.arrow_data.styler.display_values
        text = dataframe_util.convert_arrow_bytes_to_pandas_df(display) if display else None
        yield element.value, text


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        if not COLOUR.match(node):
            yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in {"hovertemplate", "texttemplate"}:  # Plotly's own placeholders
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def chart_texts(at: AppTest) -> list[str]:
    """Every string of every chart's data and layout (labels, ticks, hover values)."""
    texts: list[str] = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        texts += _strings([spec.get("data", []), spec.get("layout", {})])
    return texts


def page_texts(at: AppTest, *, skip_columns: Collection[object] = ()) -> list[str]:
    """Titles, markdown, captions, notices, KPI tiles (value, help) and table cells (but
    those of ``skip_columns``)."""
    texts: list[str] = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "success"):
        texts += [str(element.value) for element in at.get(kind)]
    for metric in at.metric:
        texts += [metric.proto.label, metric.value, metric.proto.help]
    for values, display in shown_tables(at):
        if display is not None:
            kept = [i for i, column in enumerate(values.columns) if column not in skip_columns]
            texts += [str(cell) for cell in display.iloc[:, kept].to_numpy().ravel()]
    return texts


def amounts(texts: list[str]) -> list[re.Match[str]]:
    """Every rupee amount written in ``texts``."""
    return [match for text in texts for match in RUPEES.finditer(text)]


def badly_grouped(texts: list[str]) -> list[str]:
    """Amounts not grouped the Indian way, and any 7+ digit number in thousands groups."""
    wrong = [m.group(0) for m in amounts(texts) if not INDIAN_DIGITS.fullmatch(m["digits"])]
    return wrong + [m.group(0) for text in texts for m in WESTERN_SEVEN_DIGITS.finditer(text)]


def unformatted_money_columns(at: AppTest) -> list[str]:
    """Money columns of tables shown without display text (the browser would format them)."""
    return [
        str(column)
        for values, display in shown_tables(at)
        for column in values.columns
        if column in MONEY_COLUMNS and display is None
    ]


def table_amounts(at: AppTest) -> list[str]:
    """The display text of every money cell of every table on the page."""
    cells: list[str] = []
    for values, display in shown_tables(at):
        if display is None:
            continue
        for position, column in enumerate(values.columns):
            if column in MONEY_COLUMNS:
                cells += [str(cell) for cell in display.iloc[:, position]]
    return cells
