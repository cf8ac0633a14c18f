"""共性问题: which alerts are due (idempotent per team, category and window) and turning one into an item."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import Config
from handlers.cases.service import open_item
from models.case import Case
from models.db import rowcount
from models.org import Person, Unit
from models.pulse_alert import CONCERN, PulseAlert
from models.quarters import current_quarter, recent_quarters
from reports.queries.pulse import common_problems, pulse, rising_concern

__all__ = ["Fired", "due_alerts", "to_item"]


@dataclass
class Fired:
    alert: PulseAlert
    shares: str = ""          # "10% → 25% → 75%" for a concern alert


def _window(today: date, days: int) -> str:
    """The fixed `days`-long bucket `today` falls in ("2026-11-07/30"): the unique key's window."""
    return f"{date.fromordinal(today.toordinal() // days * days).isoformat()}/{days}"


def _insert(db: Session, alert: PulseAlert) -> bool:
    """Add the alert unless another run got there first (UNIQUE team, category, window)."""
    try:
        with db.begin_nested():
            db.add(alert)
            db.flush()
    except IntegrityError:
        return False
    return True


def due_alerts(db: Session, config: Config, now: datetime) -> list[Fired]:
    """New alerts at `now`: ≥ K flags of one category in a team within the window (none fired for
    that team and category within the window already), and teams whose 波动+严重 share rose two
    quarters in a row (once per quarter). Each is a new PulseAlert row."""
    k, days = config.get("pulse.alert_flags", int), config.get("pulse.alert_days", int)
    tz = config.timezone
    fired: list[Fired] = []
    recent = {(t, c) for t, c in db.execute(select(PulseAlert.team_id, PulseAlert.category)
                                            .where(PulseAlert.fired_at > now - timedelta(days=days)))}
    window = _window(now.astimezone(ZoneInfo(tz)).date(), days)
    for p in common_problems(db, now, k=k, days=days):
        if (p.team_id, p.category) in recent:
            continue
        alert = PulseAlert(team_id=p.team_id, category=p.category, window=window, flags=p.flags, fired_at=now)
        if _insert(db, alert):
            fired.append(Fired(alert))
    quarters = recent_quarters(current_quarter(now, tz), 3)
    rows = pulse(db, None, quarters)
    for team_id in rising_concern(rows, quarters):
        if db.scalar(select(PulseAlert.id).where(PulseAlert.team_id == team_id, PulseAlert.category == CONCERN,
                                                 PulseAlert.window == quarters[-1])):
            continue
        alert = PulseAlert(team_id=team_id, category=CONCERN, window=quarters[-1], flags=0, fired_at=now)
        if _insert(db, alert):
            fired.append(Fired(alert, " → ".join(f"{rows[(team_id, q)].concern_share:.0%}" for q in quarters)))
    for f in fired:
        f.alert.team = db.get_one(Unit, f.alert.team_id)
    return fired


def to_item(db: Session, alert: PulseAlert, secretary: Person, now: datetime, note: str) -> Case | None:
    """Turn the alert into an item once; None when it already is one (another click won)."""
    if alert.case_id is not None:
        return None
    with db.begin_nested() as nested:
        case = open_item(db, unit=alert.team, secretary=secretary,
                         category=None if alert.category == CONCERN else alert.category, now=now, note=note)
        claimed = db.execute(update(PulseAlert).where(PulseAlert.id == alert.id, PulseAlert.case_id.is_(None))
                             .values(case_id=case.id).execution_options(synchronize_session=False))
        if rowcount(claimed) != 1:
            nested.rollback()
            db.refresh(alert)
            return None
    db.refresh(alert)
    return case
