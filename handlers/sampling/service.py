"""Which talks are sampled, the answer and its consequences, and the per-team figures.

The share comes from `sampling.share` (default 0.10; 0 turns it off), overridable per unit by
full name or name in `sampling.units` (the deepest listed unit above the subject wins). Every
answer is one conditional UPDATE on the pending row, so a double tap or a replayed click counts once.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.config import Config
from models.db import rowcount
from models.org import Person, Unit
from models.sampling import CheckState, TalkCheck
from models.talk import Talk

__all__ = ["CheckStats", "answer", "answer_window", "check_stats", "resolve", "sample_share", "start_check"]


def answer_window(config: Config) -> timedelta:
    return timedelta(days=config.get("sampling.answer_days", int))


def sample_share(config: Config, unit: Unit | None) -> float:
    share: float = config.get("sampling.share", float)
    overrides: dict[str, Any] = config.get("sampling.units", dict) or {}
    best = -1
    parts = unit.full_name.split("/") if unit is not None else []
    for key, value in overrides.items():   # the deepest unit named (full name or short name) wins
        if unit is not None and (unit.full_name == key or unit.full_name.startswith(f"{key}/")):
            depth = key.count("/") + 1
        elif key in parts:
            depth = parts.index(key) + 1
        else:
            continue
        if depth > best:
            best, share = depth, float(value)
    return max(0.0, min(1.0, share))


def start_check(db: Session, config: Config, talk: Talk, now: datetime) -> TalkCheck | None:
    """Draw the talk into the sample (per the subject's unit share); the row, or None."""
    subject = talk.subject
    share = sample_share(config, subject.unit if subject else None)
    if subject is None or subject.unit is None or share <= 0 or secrets.randbelow(10_000) >= share * 10_000:
        return None
    check = TalkCheck(talk_id=talk.id, subject_id=subject.id, author_id=talk.author_id, unit_id=subject.unit_id,
                      quarter=talk.quarter, sent_at=now)
    db.add(check)
    db.flush()
    return check


def answer(db: Session, check: TalkCheck, state: CheckState, now: datetime) -> bool:
    """Record 属实 / 没有这次谈话 once; a denial marks the talk disputed."""
    done = db.execute(update(TalkCheck).where(TalkCheck.id == check.id, TalkCheck.state == CheckState.PENDING.value)
                      .values(state=state.value, answered_at=now).execution_options(synchronize_session=False))
    if rowcount(done) != 1:
        db.refresh(check)
        return False
    if state is CheckState.DENIED:
        db.execute(update(Talk).where(Talk.id == check.talk_id).values(disputed=True)
                   .execution_options(synchronize_session=False))
    db.refresh(check)
    return True


def resolve(db: Session, check: TalkCheck, by: Person, text: str, *, happened: bool, now: datetime) -> bool:
    """Close a denial: the talk counts again if the secretary found it did happen."""
    done = db.execute(update(TalkCheck).where(TalkCheck.id == check.id, TalkCheck.state == CheckState.DENIED.value)
                      .values(state=CheckState.RESOLVED.value, resolved_by_id=by.id, resolved_at=now,
                              resolution=text).execution_options(synchronize_session=False))
    if rowcount(done) != 1:
        db.refresh(check)
        return False
    if happened:
        db.execute(update(Talk).where(Talk.id == check.talk_id).values(disputed=False)
                   .execution_options(synchronize_session=False))
    db.refresh(check)
    return True


@dataclass
class CheckStats:
    name: str
    sampled: int = 0
    confirmed: int = 0
    denied: int = 0
    no_answer: int = 0
    waiting: int = 0

    def line(self) -> str:
        return (f"{self.name}：抽查 {self.sampled}，属实 {self.confirmed}，否认 {self.denied}，"
                f"未答复 {self.no_answer}" + (f"，待答复 {self.waiting}" if self.waiting else ""))


def check_stats(db: Session, config: Config, unit: Unit, quarter: str, now: datetime
                ) -> tuple[list[CheckStats], list[CheckStats]]:
    """(per team, per leader) for `quarter` under `unit`; silence past the window is 'no answer'."""
    late = now - answer_window(config)
    author = Person.__table__.alias("author")
    rows = db.execute(select(Unit.name, author.c.name, TalkCheck.state, TalkCheck.sent_at < late, func.count())
                      .join(Unit, Unit.id == TalkCheck.unit_id).join(author, author.c.id == TalkCheck.author_id)
                      .where(TalkCheck.quarter == quarter, Unit.path.like(f"{unit.path}%"))
                      .group_by(Unit.name, author.c.name, TalkCheck.state, TalkCheck.sent_at < late))
    teams: dict[str, CheckStats] = {}
    leaders: dict[str, CheckStats] = {}
    for team, leader, state, expired, n in rows:
        for bucket in (teams.setdefault(team, CheckStats(team)), leaders.setdefault(leader, CheckStats(leader))):
            bucket.sampled += n
            if state == CheckState.CONFIRMED.value:
                bucket.confirmed += n
            elif state in (CheckState.DENIED.value, CheckState.RESOLVED.value):
                bucket.denied += n
            elif expired:
                bucket.no_answer += n
            else:
                bucket.waiting += n
    return sorted(teams.values(), key=lambda s: s.name), sorted(leaders.values(), key=lambda s: s.name)
