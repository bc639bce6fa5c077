"""Amounts and counts as the reader's locale writes them: the one formatting implementation.

Every place a person reads money (dashboard pages and charts, command-line tables, Excel
downloads, reminders) formats it here, from ``[display]`` (:class:`DisplaySettings`), so a
lender sees one style everywhere: ``en_IN`` groups ₹12,45,35,69,501 (thousands, then
pairs of digits for lakhs and crores), ``en_US`` $12,453,569,501, ``de_DE``
12.453.569.501 €. Babel holds the CLDR rules; nothing here hand-codes a grouping.

``units = "crore_lakh"`` writes large amounts in the units Indian finance talks in
(₹1,245.36 crore, ₹12.45 lakh) on screens and in tables; reminders and spreadsheet cells
always carry the exact amount (``exact=True`` and :meth:`MoneyFormat.excel_format`).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from babel import Locale
from babel.numbers import NumberPattern, get_currency_precision, get_currency_symbol

from loan_recovery.config import DisplaySettings
from loan_recovery.data import schema

#: What a missing amount (None or NaN) reads as.
MISSING = "—"
#: Indian units, largest first: (size, word). Amounts below the smallest stay grouped.
INDIAN_UNITS: tuple[tuple[float, str], ...] = ((1e7, "crore"), (1e5, "lakh"))
#: Decimals of an amount written in crores or lakhs: ₹12.45 lakh is exact to ₹1,000.
UNIT_DECIMALS = 2

#: Plan and portfolio columns that hold money (whole currency units on screen, the money
#: number format in Excel): every input amount, and what the plan says each action is worth.
MONEY_COLUMNS: tuple[str, ...] = (
    *schema.AMOUNT_COLUMNS,
    schema.PRIORITY,
    schema.EXPECTED_UPLIFT,
    schema.VALUE_IF_LEFT_ALONE,
    schema.EXPECTED_NET_RECOVERY,
    schema.EXPECTED_RECOVERED,
    schema.EXPECTED_COST,
    schema.UPLIFT_VS_BASELINE,
    schema.UPLIFT_VS_NEXT_BEST,
    *(schema.value_column(action) for action in schema.ARM_NAMES),
    *(schema.uplift_column(action) for action in schema.ACTION_NAMES),
    schema.EXPOSURE,
    schema.RECOVERED,
    schema.COST,
    schema.NET_RECOVERY,
    schema.INCREMENTAL_NET,
    schema.DR_ESTIMATE,
    schema.DR_LOW,
    schema.DR_HIGH,
    schema.FIXED_COST,
)
_LAST_DIGIT = re.compile(r"(\d)(?!.*\d)")


@dataclass(frozen=True, slots=True)
class MoneyFormat:
    """Formats amounts and counts the way ``display`` says; cheap to build, safe to share."""

    display: DisplaySettings = field(default_factory=DisplaySettings)

    @property
    def symbol(self) -> str:
        """The currency's symbol in the locale: ₹ for INR in en_IN, € for EUR in de_DE."""
        return str(get_currency_symbol(self.display.currency, locale=self.display.locale))

    @property
    def indian_grouping(self) -> bool:
        """Whether the locale groups digits in lakhs and crores (en_IN, hi_IN, ...)."""
        grouping: tuple[int, int] = _locale(self.display.locale).decimal_formats[None].grouping
        return grouping == (3, 2)

    def amount(
        self,
        value: float | None,
        *,
        decimals: int | None = 0,
        symbol: bool = True,
        exact: bool = False,
    ) -> str:
        """``value`` as money: ``₹12,45,35,69,501``, or ``₹1,245.36 crore`` in crore_lakh units.

        ``decimals``: digits after the point of a grouped amount (None: the currency's own,
        2 for INR); totals use 0, since paise on a crore say nothing. ``symbol=False`` gives
        the bare number, for a table whose header names the currency. ``exact`` ignores
        crore_lakh units (a reminder must say exactly what is due). Missing reads ``—``.
        """
        if value is None or not math.isfinite(value):
            return MISSING
        digits = self._digits(decimals)
        unit = None if exact else self._unit(value, digits)
        places = UNIT_DECIMALS if unit is not None else digits
        return self._write(value, unit, places, places, symbol=symbol)

    def number(self, value: float | None, *, decimals: int = 0) -> str:
        """A count or plain quantity grouped for the locale: ``12,34,567`` in en_IN."""
        if value is None or not math.isfinite(value):
            return MISSING
        return self._write(value, None, decimals, decimals, symbol=False)

    def tick(self, value: float) -> str:
        """A chart axis label: like :meth:`amount`, trailing zeros of units dropped (₹2 crore)."""
        unit = self._unit(value, 0)
        return self._write(value, unit, 0, UNIT_DECIMALS if unit is not None else 0, symbol=True)

    def excel_format(self) -> str:
        """An Excel number format of whole currency units that keeps the locale's grouping.

        Excel groups digits by the viewer's system settings, never by the format, so an
        Indian grouping needs conditions on size (lakh and crore). Only two conditions fit
        in a format: a negative amount below -99,999 falls back to thousands grouping.
        """
        prefix, suffix = self._excel_affixes()
        if not self.indian_grouping:
            return f"{prefix}#,##0{suffix}"
        return (
            f"[>=10000000]{prefix}##\\,##\\,##\\,##0{suffix};"
            f"[>=100000]{prefix}##\\,##\\,##0{suffix};"
            f"{prefix}#,##0{suffix}"
        )

    def excel_formats(self, columns: Iterable[object]) -> dict[str, str]:
        """Column -> :meth:`excel_format` for the money columns among ``columns``."""
        code = self.excel_format()
        return {str(name): code for name in columns if name in MONEY_COLUMNS}

    def _digits(self, decimals: int | None) -> int:
        if decimals is not None:
            return decimals
        return int(get_currency_precision(self.display.currency))

    def _unit(self, value: float, digits: int) -> tuple[float, str] | None:
        """The crore or lakh unit ``value`` is written in, or None to write it grouped."""
        if self.display.units != "crore_lakh":
            return None
        size = abs(float(_rounded(value, digits)))
        return next(((unit, word) for unit, word in INDIAN_UNITS if size >= unit), None)

    def _write(
        self, value: float, unit: tuple[float, str] | None, least: int, most: int, *, symbol: bool
    ) -> str:
        """``value`` (divided by ``unit``) with ``least``-``most`` decimals, the symbol if
        asked, and the unit's word after the last digit (``₹12.45 lakh``, ``12,45 lakh €``)."""
        currency = self.display.currency if symbol else None
        shown = value / unit[0] if unit is not None else value
        text = str(
            _pattern(self.display.locale, currency, least, most).apply(
                _rounded(shown, most),
                _locale(self.display.locale),
                currency=currency,
                currency_digits=False,
            )
        )
        return _LAST_DIGIT.sub(rf"\1 {unit[1]}", text, count=1) if unit is not None else text

    def _excel_affixes(self) -> tuple[str, str]:
        """The currency symbol as quoted Excel text, before or after the number."""
        pattern = _locale(self.display.locale).currency_formats["standard"]
        prefix, suffix = pattern.prefix[0], pattern.suffix[0]
        return _excel_text(prefix, self.symbol), _excel_text(suffix, self.symbol)


def _excel_text(affix: str, symbol: str) -> str:
    text = affix.replace("¤", symbol).replace("\xa0", " ").replace('"', "")
    return f'"{text}"' if text else ""


def _rounded(value: float, places: int) -> Decimal:
    """``value`` rounded half-even to ``places``, with -0 read as 0 (never ``-₹0``)."""
    number = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    return number if number != 0 else Decimal(0).quantize(Decimal(1).scaleb(-places))


@lru_cache(maxsize=64)
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@lru_cache(maxsize=256)
def _pattern(locale: str, currency: str | None, least: int, most: int) -> NumberPattern:
    """The locale's currency (or decimal) pattern with ``least``-``most`` fraction digits."""
    parsed = _locale(locale)
    base = parsed.currency_formats["standard"] if currency else parsed.decimal_formats[None]
    pattern: NumberPattern = copy.copy(base)
    pattern.frac_prec = (least, most)
    return pattern
