"""Case logic shared by the chat handlers, the event subscriber and the SLA job.

Who gets what: the nearest secretaries covering the subject's unit handle a case, the nearest
committee members covering it decide care requests; "one level up" is the next covering level
of the tree. Card updates for every recipient of a card go through ctx (ctx.update_card for the
clicker, ctx.update_card_for_others for the rest; the response-code mechanics live in bot.card_refs).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from models.case import Case, CaseEvent, CaseState
from models.directory import search_people
from models.enums import Role
from models.org import Person, RoleAssignment, Unit
from models.policy import can

__all__ = [
    "approvals_so_far",
    "approvers_for",
    "cases_in_scope",
    "committee_for",
    "covering_people",
    "decision_event",
    "fmt_time",
    "level_above",
    "name_of",
    "open_item",
    "request_event",
    "scope_filter",
    "secretaries_for",
    "subjects_in_scope",
]

def fmt_time(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def name_of(db: Session, person_id: int | None) -> str:
    if person_id is None:
        return "系统"
    p = db.get(Person, person_id)
    return p.name if p else f"#{person_id}"


def _assignments(db: Session, role: Role, unit: Unit) -> list[RoleAssignment]:
    rows = db.scalars(select(RoleAssignment).join(Unit, RoleAssignment.unit_id == Unit.id)
                      .where(RoleAssignment.role == role, Unit.active.is_(True))).all()
    return [r for r in rows if r.unit.contains(unit) and r.person.active]


def covering_people(db: Session, role: Role, unit: Unit) -> dict[int, list[Person]]:
    """People holding `role` on a unit covering `unit`, grouped by depth of their scope (deepest first)."""
    levels: dict[int, list[Person]] = {}
    for ra in _assignments(db, role, unit):
        depth = ra.unit.path.count("/")
        people = levels.setdefault(depth, [])
        if ra.person not in people:
            people.append(ra.person)
    return dict(sorted(levels.items(), reverse=True))


def _nearest(levels: dict[int, list[Person]]) -> list[Person]:
    return next(iter(levels.values()), [])


def secretaries_for(db: Session, unit: Unit) -> list[Person]:
    """The secretaries of the nearest covering organisation (normally the branch)."""
    return _nearest(covering_people(db, Role.SECRETARY, unit))


def committee_for(db: Session, unit: Unit) -> list[Person]:
    return _nearest(covering_people(db, Role.COMMITTEE, unit))


def level_above(db: Session, unit: Unit, role: Role) -> list[Person]:
    """One level up from the nearest `role` holders: the next covering secretaries (general
    branch), then the committee; for committee holders the next covering committee."""
    levels = covering_people(db, role, unit)
    groups = list(levels.values())
    if len(groups) > 1:
        return groups[1]
    if role is Role.SECRETARY:
        return committee_for(db, unit)
    return []


def decision_event(case: Case) -> CaseEvent | None:
    """The last event that moved the case out of care_requested (who decided, when)."""
    for ev in reversed(case.events):
        if ev.from_state == CaseState.CARE_REQUESTED and ev.kind == "transition":
            return ev
    return None


def request_event(case: Case) -> CaseEvent | None:
    """The event that submitted the current request round (who asked, when)."""
    for ev in reversed(case.events):
        if ev.kind == "transition" and ev.to_state == CaseState.CARE_REQUESTED:
            return ev
    return None


def approvals_so_far(db: Session, case: Case, tz: str) -> list[tuple[str, str]]:
    """(level label, "name mm-dd HH:MM") for each level approved in the current round."""
    req = request_event(case)
    if req is None:
        return []
    out = []
    for ev in case.events:
        final = ev.kind == "transition" and ev.from_state == CaseState.CARE_REQUESTED and ev.to_state == CaseState.APPROVED
        if ev.id > req.id and (ev.kind == "approval" or final):
            out.append((ev.comment or "审批", f"{name_of(db, ev.actor_id)} {fmt_time(ev.at, tz)}"))
    return out


class Placed(Protocol):
    """What the approver lookup reads of an item: a Case, or a care request not yet created."""

    @property
    def unit(self) -> Unit: ...


def approvers_for(db: Session, case: Placed, role: Role) -> list[Person]:
    """Who approves `role`'s level of `case`: the nearest holders of that role covering the subject's unit."""
    return _nearest(covering_people(db, role, case.unit))


def scope_filter(person: Person, *roles: Role) -> ColumnElement[bool] | None:
    """SQL condition: the case's unit lies under one of `person`'s scopes for `roles`."""
    paths = [r.unit.path for r in person.roles if Role(r.role) in roles and r.unit is not None]
    if not paths:
        return None
    return or_(*[Unit.path.like(f"{p}%") for p in paths])


def cases_in_scope(db: Session, person: Person, states: Sequence[str], *roles: Role, limit: int = 50) -> list[Case]:
    cond = scope_filter(person, *roles)
    if cond is None:
        return []
    return list(db.scalars(select(Case).join(Unit, Case.unit_id == Unit.id)
                           .where(Case.state.in_(list(states)), cond).order_by(Case.id).limit(limit)))


def subjects_in_scope(db: Session, person: Person, query: str, *, party_only: bool = False) -> list[Person]:
    """People matching `query` inside the units where `person` is secretary (party members only if asked)."""
    paths = [r.unit.path for r in person.roles if r.role == Role.SECRETARY and r.unit is not None]
    if not paths:
        return []
    within = Person.unit_id.in_(select(Unit.id).where(or_(*[Unit.path.like(f"{p}%") for p in paths])))
    people = search_people(db, query, limit=10, within=within)
    if party_only:
        people = [p for p in people if can(p, "helper.assignable")]
    return people


def open_item(db: Session, *, unit: Unit, secretary: Person, category: str | None, now: datetime,
              note: str) -> Case:
    """An item followed like a flag but raised by no single talk (a team's 共性问题): opened as
    acknowledged by the secretary, then the flag's lifecycle and SLA. The case's unit is the team;
    with no one person concerned, the secretary stands as its subject and `note` says what it is."""
    case = Case(subject_id=secretary.id, subject=secretary, unit_id=unit.id, unit=unit, opened_by_id=secretary.id,
                flag="watch", category=category, state=CaseState.ACKNOWLEDGED, state_since=now, sla_since=now,
                created_at=now, holder_id=secretary.id, secretary_id=secretary.id)
    db.add(case)
    db.flush()
    db.add(CaseEvent(case_id=case.id, at=now, actor_id=secretary.id, kind="transition", from_state=None,
                     to_state=CaseState.ACKNOWLEDGED, comment=note))
    db.flush()
    db.refresh(case)
    return case
