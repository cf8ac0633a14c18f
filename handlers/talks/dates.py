"""When a talk took place: the words people type for a day (今天, 昨天, 11-28, 上周五) and the
rules for late entries (补录) and closed quarters, so the dialog and the one-line form agree."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from models.quarters import quarter_bounds
from models.talk import quarter_of

__all__ = ["DateRules", "looks_like_day", "parse_day", "talk_moment"]

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_RELATIVE = {"今天": 0, "今日": 0, "today": 0, "昨天": 1, "昨日": 1, "yesterday": 1, "前天": 2}
_WEEK = re.compile(r"^(上上|上|本|这)?(?:周|星期|礼拜)([一二三四五六日天])$")
_YMD = re.compile(r"^(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?$")


def parse_day(text: str, today: date) -> date | None:
    """The day `text` names, seen from `today`; None when it is not a day word.

    今天/昨天/前天; 11-28, 11/28, 11月28日, 2026-11-28 (a month-day later than today means last
    year); 周五/星期五 (the latest one not after today), 本周五, 上周五, 上上周五.
    Raises ValueError for a day-shaped word that is no real date (2-30)."""
    t = text.strip().lower()
    if t in _RELATIVE:
        return today - timedelta(days=_RELATIVE[t])
    m = _WEEK.match(t)
    if m:
        weekday = _WEEKDAYS[m.group(2)]
        monday = today - timedelta(days=today.weekday())
        if m.group(1) in ("本", "这"):
            return monday + timedelta(days=weekday)
        if m.group(1) in ("上", "上上"):
            return monday - timedelta(days=7 * len(m.group(1))) + timedelta(days=weekday)
        back = (today.weekday() - weekday) % 7
        return today - timedelta(days=back)
    m = _YMD.match(t)
    if m:
        year = int(m.group(1)) if m.group(1) else today.year
        day = date(year, int(m.group(2)), int(m.group(3)))     # ValueError: no such day
        if not m.group(1) and day > today:
            day = date(year - 1, day.month, day.day)
        return day
    return None


def looks_like_day(word: str) -> bool:
    """Whether `word` is written like a day (the one-line form takes it as the talk's date)."""
    t = word.strip().lower()
    return t in _RELATIVE or bool(_WEEK.match(t)) or bool(_YMD.match(t))


def talk_moment(day: date, now: datetime, tz: str) -> datetime:
    """The stored time of a talk on `day`: now for today, local noon for an earlier day."""
    zone = ZoneInfo(tz)
    if day == now.astimezone(zone).date():
        return now
    return datetime.combine(day, time(12, 0), zone).astimezone(now.tzinfo or zone)


@dataclass(frozen=True)
class DateRules:
    """talks.late_after_days (a reason is asked beyond it) and talks.quarter_grace_days (a
    quarter stays open for entries this many days after it ends)."""

    late_after_days: int = 7
    grace_days: int = 15
    tz: str = "Asia/Shanghai"

    @classmethod
    def from_config(cls, config: Config) -> DateRules:
        return cls(config.get("talks.late_after_days", int), config.get("talks.quarter_grace_days", int),
                   config.timezone)

    def refusal(self, day: date, now: datetime) -> str | None:
        """Why a talk on `day` cannot be entered at `now` (future day, closed quarter), else None."""
        today = now.astimezone(ZoneInfo(self.tz)).date()
        if day > today:
            return f"谈话日期 {day:%m-%d} 还没有到，请填写已经发生的谈话的日期。"
        quarter = quarter_of(talk_moment(day, now, self.tz), self.tz)
        closes = quarter_bounds(quarter, self.tz)[1] + timedelta(days=self.grace_days)
        if now >= closes:
            last = (closes - timedelta(days=1)).astimezone(ZoneInfo(self.tz))
            return (f"{quarter} 已结束，补录期限为 {last:%Y-%m-%d}，已不能再为该季度记录谈话。"
                    "如是近期的谈话，请填写实际日期。")
        return None

    def late(self, day: date, now: datetime) -> int:
        """Days between the talk and its entry when beyond late_after_days (a reason is needed), else 0."""
        days = (now.astimezone(ZoneInfo(self.tz)).date() - day).days
        return days if days > self.late_after_days else 0
