"""Quarter arithmetic with local boundaries, so Talk.quarter, reminders and reports agree on what a quarter is."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from .base import DEFAULT_TZ
from .talk import quarter_of

__all__ = ["current_quarter", "previous_quarter", "quarter_bounds", "quarter_days", "recent_quarters", "year_quarters"]


def current_quarter(now: datetime | None = None, tz: str = DEFAULT_TZ) -> str:
    return quarter_of(now or datetime.now(UTC), tz)


def _parse_quarter(quarter: str) -> tuple[int, int]:
    try:
        year, q = quarter.upper().split("Q")
        year_i, q_i = int(year), int(q)
    except ValueError:
        raise ValueError(f"bad quarter {quarter!r}, expected e.g. 2026Q4") from None
    if not 1 <= q_i <= 4:
        raise ValueError(f"bad quarter {quarter!r}, expected e.g. 2026Q4")
    return year_i, q_i


def quarter_bounds(quarter: str, tz: str = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a quarter in UTC; boundaries are local midnight in `tz`."""
    year, q = _parse_quarter(quarter)
    zone = ZoneInfo(tz)
    start = datetime(year, 3 * (q - 1) + 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone) if q == 4 else datetime(year, 3 * q + 1, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def previous_quarter(quarter: str) -> str:
    year, q = _parse_quarter(quarter)
    return f"{year - 1}Q4" if q == 1 else f"{year}Q{q - 1}"


def recent_quarters(last: str, n: int) -> list[str]:
    """The n quarters ending with `last`, oldest first: recent_quarters("2026Q2", 3) → 2025Q4, 2026Q1, 2026Q2."""
    out = [last]
    while len(out) < n:
        out.append(previous_quarter(out[-1]))
    return out[::-1]


def quarter_days(quarter: str, tz: str = DEFAULT_TZ) -> tuple[date, date]:
    """First and last local day of a quarter."""
    start, end = quarter_bounds(quarter, tz)
    zone = ZoneInfo(tz)
    return start.astimezone(zone).date(), (end.astimezone(zone) - timedelta(days=1)).date()


def year_quarters(year: int, now: datetime, tz: str = DEFAULT_TZ) -> list[str]:
    """The quarters of `year` that have started by `now` (local time)."""
    current = quarter_of(now, tz)
    return [q for q in (f"{year}Q{i}" for i in range(1, 5)) if q <= current]
