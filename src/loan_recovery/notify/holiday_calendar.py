"""No-contact days: a country's public holidays, its chosen states' own, and the lender's.

Public holidays come from the ``holidays`` package (every year, moving feasts such as Holi,
Eid and Diwali included), so nobody keeps a list of dates by hand and next year's calendar
needs no release. ``notify.holiday_subdivisions`` adds state holidays (Maharashtra's Gudi
Padwa, Tamil Nadu's Pongal): a borrower's state is not on the loan row, so a date that is a
holiday in any chosen state is skipped for everyone. ``notify.holidays`` lists the extra
dates a lender adds (a branch closure, a local festival the package does not know).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import holidays

from loan_recovery.config import NotifySettings


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """The no-contact dates of a country and its chosen subdivisions, plus extra dates."""

    country: str | None = None
    subdivisions: tuple[str, ...] = ()
    extra: frozenset[date] = frozenset()

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> HolidayCalendar:
        """The calendar the ``notify`` settings describe."""
        return cls(
            country=settings.holiday_country,
            subdivisions=tuple(settings.holiday_subdivisions),
            extra=frozenset(settings.holidays),
        )

    def __contains__(self, day: object) -> bool:
        """Whether ``day`` (a date; a datetime counts by its date) is a no-contact day."""
        if not isinstance(day, date):
            return False
        moment = day.date() if isinstance(day, datetime) else day
        if moment in self.extra:
            return True
        return moment in public_holidays(self.country, self.subdivisions, moment.year)

    def dates(self, years: Iterable[int]) -> frozenset[date]:
        """Every no-contact date of ``years``, extra dates of any year included."""
        found: set[date] = set(self.extra)
        for year in years:
            found |= public_holidays(self.country, self.subdivisions, year)
        return frozenset(found)


@lru_cache(maxsize=256)
def public_holidays(
    country: str | None, subdivisions: tuple[str, ...], year: int
) -> frozenset[date]:
    """Public holidays of ``country`` in ``year``, with those of each of ``subdivisions``.

    Cached: a run asks for the same year for every zone and every send.
    """
    if country is None:
        return frozenset()
    found: set[date] = set(holidays.country_holidays(country, years=year))
    for subdivision in subdivisions:
        found |= set(holidays.country_holidays(country, subdiv=subdivision, years=year))
    return frozenset(found)
