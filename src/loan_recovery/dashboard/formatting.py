"""How numbers read on screen: amounts and counts through :mod:`loan_recovery.money`, shares,
tables whose amounts keep sorting as numbers, and chart axes labelled the same way.

Pure functions (no Streamlit) so every page formats alike and tests can pin the text. No
amount is formatted here by hand: :class:`~loan_recovery.money.MoneyFormat` is the one
implementation, so the dashboard, the command line, Excel and reminders cannot drift.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from loan_recovery.config import Settings
from loan_recovery.money import MoneyFormat

#: Ticks a money axis aims for (Plotly's own default is about as many).
AXIS_TICKS = 5


def money_format(settings: Settings) -> MoneyFormat:
    """The formatter of the configured ``[display]`` (locale, currency, units)."""
    return MoneyFormat(settings.display)


def percent(value: float | None, *, decimals: int = 1) -> str:
    """``0.123`` -> ``12.3%``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.{decimals}f}%"


def styled(
    frame: pd.DataFrame,
    money: MoneyFormat,
    *,
    amounts: Iterable[object] = (),
    counts: Iterable[object] = (),
) -> Styler:
    """``frame`` with its amount and count columns shown as ``money`` writes them.

    A Styler, not text columns: the cells keep their numbers, so a click on the header
    still sorts ₹9,00,000 below ₹10,00,000. Streamlit shows the Styler's text only for
    columns without a ``format`` in ``column_config``; give those a label at most.
    Columns not in ``frame`` are skipped, so one list serves several tables; a missing
    value reads blank.
    """
    present = set(frame.columns)
    formatters: dict[Any, Any] = {column: money.amount for column in amounts if column in present}
    formatters.update({column: money.number for column in counts if column in present})
    # Missing cells stay blank, as Streamlit shows them without a Styler (not "None").
    return frame.style.format(formatters, na_rep="")


def nice_ticks(low: float, high: float, *, ticks: int = AXIS_TICKS) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(ticks, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)
    first = math.floor(low / step)
    last = math.ceil(high / step)
    return [index * step for index in range(first, last + 1)]


def money_axis(
    values: Iterable[float], money: MoneyFormat, *, include_zero: bool = True
) -> dict[str, Any]:
    """Plotly axis settings whose tick labels ``money`` writes (₹2,00,00,000 or ₹2 crore).

    Plotly's d3 formats group digits in threes only, so the ticks are placed here over the
    values (and zero, where bars start, unless ``include_zero`` is off: points far from
    zero would get too few ticks) and labelled in Python.
    """
    finite = [float(value) for value in values if math.isfinite(value)]
    floor = [0.0] if include_zero or not finite else []
    low, high = min([*floor, *finite]), max([*floor, *finite])
    if high == low:
        high = low + 1.0
    ticks = nice_ticks(low, high)
    return {"tickmode": "array", "tickvals": ticks, "ticktext": [money.tick(v) for v in ticks]}


def wrapped_labels(names: Sequence[str], *, line_chars: int) -> list[str]:
    """Category labels broken into lines of at most ``line_chars`` characters (``<br>``).

    Long segment names side by side overlap on a category axis; wrapped at word
    boundaries they stay level and readable (a word longer than a line stays whole).
    """
    return [
        "<br>".join(textwrap.wrap(name, width=line_chars, break_long_words=False)) or name
        for name in names
    ]
