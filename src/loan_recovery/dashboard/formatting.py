"""How numbers read on screen: money with the configured currency symbol, shares, counts.

Pure functions (no Streamlit) so every page formats alike and tests can pin the text.
"""

from __future__ import annotations

import math


def money(value: float, symbol: str, *, decimals: int = 0) -> str:
    """``₹1,234,567`` (negative: ``-₹1,234``); a missing value reads ``—``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}{symbol}{abs(value):,.{decimals}f}"


def compact_money(value: float, symbol: str) -> str:
    """Short money for KPI tiles: ``₹12.3M``, ``₹845.2K``, ``₹950``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= threshold:
            return f"{sign}{symbol}{size / threshold:,.1f}{suffix}"
    return f"{sign}{symbol}{size:,.0f}"


def percent(value: float, *, decimals: int = 1) -> str:
    """``0.123`` -> ``12.3%``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:.{decimals}f}%"


def count(value: float) -> str:
    """Whole counts with thousands separators."""
    return f"{value:,.0f}"
