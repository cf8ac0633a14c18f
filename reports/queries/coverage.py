"""Talk coverage per team and quarter (who has been talked to, who not yet): one definition for chat, reminders and reports.

Used by `我的班组` (handlers.talks), the quarter reminders and the digest (scheduler) and the
reports (reports.queries.talks groups its per-team counts).

Definitions (documented once, here):
- A *team* is an active `Unit` of kind "team".
- Its *members* are the active people whose `unit_id` is the team.
- The team's own leaders (people holding `team_leader` on that very team) are NOT counted as
  members of their team: a leader records the talks and does not talk to himself; the leader's
  own talk is the branch secretary's business. Pass `include_leaders=True` to count them anyway.
- *Talked* means at least one talk (any kind: quarterly, special, home visit) whose `quarter`
  column equals the quarter asked about. `Talk.quarter` is computed in Asia/Shanghai when the talk
  is recorded (models.talk.quarter_of), so quarter boundaries are local, and the query needs no
  time-zone arithmetic.
- *Last talk* is the latest `occurred_at` of any talk with the person (all quarters, any author).

Every function is set-based: a fixed number of SQL statements whatever the number of teams
(teams; members with correlated index probes on ix_talk_subject_quarter / ix_talk_subject_occurred;
leaders). No per-person or per-team queries.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from models.enums import Role, UnitKind
from models.org import Person, RoleAssignment, Unit
from models.talk import Talk

__all__ = [
    "MemberCoverage",
    "TeamCoverage",
    "leaders_by_team",
    "missing_by_team",
    "team_counts",
    "team_coverage",
    "team_ids_for",
]


@dataclass(frozen=True)
class MemberCoverage:
    person_id: int
    name: str
    talks_in_quarter: int
    last_talk_at: datetime | None          # UTC, any quarter

    @property
    def talked(self) -> bool:
        return self.talks_in_quarter > 0


@dataclass
class TeamCoverage:
    team_id: int
    name: str
    full_name: str
    path: str
    quarter: str
    leader_ids: list[int] = field(default_factory=list)
    members: list[MemberCoverage] = field(default_factory=list)

    @property
    def talked(self) -> list[MemberCoverage]:
        return [m for m in self.members if m.talked]

    @property
    def missing(self) -> list[MemberCoverage]:
        return [m for m in self.members if not m.talked]

    @property
    def total(self) -> int:
        return len(self.members)

    @property
    def ratio(self) -> float:
        """Share of members talked to (1.0 for a team without members)."""
        return len(self.talked) / self.total if self.members else 1.0


# --- scope helpers ----------------------------------------------------------------------------

def team_ids_for(db: Session, person: Person, roles: Iterable[Role] = (Role.TEAM_LEADER, Role.SECRETARY,
                                                                        Role.COMMITTEE)) -> list[int]:
    """Ids of the active teams inside the scopes of `person`'s roles (a leader: own teams)."""
    wanted = {str(r) for r in roles}
    paths = [ra.unit.path for ra in person.roles if ra.role in wanted and ra.unit is not None and ra.unit.path]
    if not paths:
        return []
    stmt = (select(Unit.id).where(Unit.kind == UnitKind.TEAM.value, Unit.active.is_(True),
                                  or_(*[Unit.path.like(f"{p}%") for p in paths]))
            .order_by(Unit.full_name))
    return list(db.scalars(stmt))


def _team_filter(team_ids: Sequence[int] | None, unit: Unit | None):
    conds = [Unit.kind == UnitKind.TEAM.value, Unit.active.is_(True)]
    if team_ids is not None:
        conds.append(Unit.id.in_(list(team_ids)))
    if unit is not None:
        conds.append(Unit.path.like(f"{unit.path}%"))
    return and_(*conds)


def _is_leader_of_own_team():
    """EXISTS: the person holds team_leader on the unit they belong to."""
    return (exists().where(RoleAssignment.person_id == Person.id, RoleAssignment.unit_id == Person.unit_id,
                           RoleAssignment.role == Role.TEAM_LEADER.value))


def leaders_by_team(db: Session, team_ids: Sequence[int]) -> dict[int, list[tuple[int, str]]]:
    """team id → [(person id, name)] of its team leaders (one query)."""
    out: dict[int, list[tuple[int, str]]] = {t: [] for t in team_ids}
    if not team_ids:
        return out
    rows = db.execute(select(RoleAssignment.unit_id, Person.id, Person.name)
                      .join(Person, Person.id == RoleAssignment.person_id)
                      .where(RoleAssignment.role == Role.TEAM_LEADER.value, RoleAssignment.unit_id.in_(list(team_ids)),
                             Person.active.is_(True))
                      .order_by(Person.name))
    for unit_id, pid, name in rows:
        out.setdefault(unit_id, []).append((pid, name))
    return out


# --- the queries ------------------------------------------------------------------------------

def team_coverage(db: Session, quarter: str, team_ids: Sequence[int] | None = None, *, unit: Unit | None = None,
                  include_leaders: bool = False) -> list[TeamCoverage]:
    """Coverage of the selected teams (all active teams if neither team_ids nor unit is given).

    Three statements: the teams, their members with talk counts and last talk (correlated
    index probes), and the leaders.
    """
    teams = db.execute(select(Unit.id, Unit.name, Unit.full_name, Unit.path)
                       .where(_team_filter(team_ids, unit)).order_by(Unit.full_name)).all()
    if not teams:
        return []
    ids = [t.id for t in teams]
    result = {t.id: TeamCoverage(team_id=t.id, name=t.name, full_name=t.full_name, path=t.path, quarter=quarter)
              for t in teams}

    in_quarter = (select(func.count()).select_from(Talk)
                  .where(Talk.subject_id == Person.id, Talk.quarter == quarter, Talk.disputed.is_(False))
                  .correlate(Person).scalar_subquery())
    last_at = (select(func.max(Talk.occurred_at)).where(Talk.subject_id == Person.id)
               .correlate(Person).scalar_subquery())
    stmt = (select(Person.unit_id, Person.id, Person.name, in_quarter.label("n"), last_at.label("last_at"))
            .where(Person.active.is_(True)))
    stmt = _restrict_people(stmt, ids, team_ids is None and unit is None, unit)
    if not include_leaders:
        stmt = stmt.where(~_is_leader_of_own_team())
    for unit_id, pid, name, n, last in db.execute(stmt.order_by(Person.unit_id, Person.name)):
        result[unit_id].members.append(MemberCoverage(pid, name, int(n or 0), _aware(last)))

    for team_id, leaders in leaders_by_team(db, ids).items():
        if team_id in result:
            result[team_id].leader_ids = [pid for pid, _ in leaders]
    return [result[t.id] for t in teams]


def missing_by_team(db: Session, quarter: str, unit: Unit | None = None, *, team_ids: Sequence[int] | None = None,
                    include_leaders: bool = False) -> dict[int, list[tuple[int, str]]]:
    """team id → [(person id, name)] of members with no talk in `quarter` (teams with nobody missing omitted).

    One statement: active members of active teams (in `unit`'s subtree / `team_ids`) with
    NOT EXISTS (talk in the quarter), an index probe on ix_talk_subject_quarter per person.
    """
    stmt = _missing_stmt(quarter, unit, team_ids, include_leaders)
    out: dict[int, list[tuple[int, str]]] = {}
    for unit_id, pid, name in db.execute(stmt):
        out.setdefault(unit_id, []).append((pid, name))
    return out


def _missing_stmt(quarter: str, unit: Unit | None, team_ids: Sequence[int] | None, include_leaders: bool):
    talked = exists().where(Talk.subject_id == Person.id, Talk.quarter == quarter, Talk.disputed.is_(False))
    stmt = (select(Person.unit_id, Person.id, Person.name)
            .join(Unit, Unit.id == Person.unit_id)
            .where(Person.active.is_(True), _team_filter(team_ids, unit), ~talked))
    if not include_leaders:
        stmt = stmt.where(~_is_leader_of_own_team())
    return stmt.order_by(Person.unit_id, Person.name)


def team_counts(db: Session, quarter: str, unit: Unit | None = None, *, team_ids: Sequence[int] | None = None,
                include_leaders: bool = False) -> dict[int, tuple[int, int]]:
    """team id → (members, talked) for statistics; one grouped statement, teams without members omitted."""
    talked = exists().where(Talk.subject_id == Person.id, Talk.quarter == quarter, Talk.disputed.is_(False))
    stmt = (select(Person.unit_id, func.count(), func.sum(case((talked, 1), else_=0)))
            .join(Unit, Unit.id == Person.unit_id)
            .where(Person.active.is_(True), _team_filter(team_ids, unit))
            .group_by(Person.unit_id))
    if not include_leaders:
        stmt = stmt.where(~_is_leader_of_own_team())
    return {unit_id: (int(n), int(t or 0)) for unit_id, n, t in db.execute(stmt)}


def _restrict_people(stmt, ids: list[int], everything: bool, unit: Unit | None):
    if everything or len(ids) > 500:
        # whole company (or a large subtree): join the unit tree instead of a huge IN list
        stmt = stmt.join(Unit, Unit.id == Person.unit_id).where(Unit.kind == UnitKind.TEAM.value,
                                                                Unit.active.is_(True))
        if unit is not None:
            stmt = stmt.where(Unit.path.like(f"{unit.path}%"))
        elif not everything:
            stmt = stmt.where(Person.unit_id.in_(ids))
        return stmt
    return stmt.where(Person.unit_id.in_(ids))


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)

