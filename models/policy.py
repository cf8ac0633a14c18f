"""The one access policy: `can(person, action, target)`. Nothing else decides access.

Scope is the organisation tree: a role held on a unit covers that unit and everything below it
(materialised path prefix). Targets are a Unit, a Person (their unit), or any object exposing
`scope_unit` (talks, cases, activities, materials) and, where authorship matters, `author_id`,
`helper_id` or `audience_unit`. A care request awaiting approval exposes `approver_role` (the
role of its current approval level) and `approval_roles` (every level of its chain).
"""
from __future__ import annotations

from typing import Any

from .enums import APPROVER_ROLES, Role
from .org import Person, Unit

__all__ = ["ACTIONS", "DIRECTORY_ROLES", "can", "has_role", "roles_of", "scopes"]

# action → one-line meaning (documentation and the matrix test walk this table)
ACTIONS: dict[str, str] = {
    "talk.record": "record a talk or home visit with a person",
    "talk.read": "read a talk record (summary, needs)",
    "team.coverage": "see a team's talk coverage",
    "case.read": "see a case and its history",
    "case.handle": "acknowledge a flag, schedule follow-up, open a care request, assign a helper, close",
    "care.approve": "approve or reject a care request at its current approval level (that level's role)",
    "case.progress": "post progress on a case as its helper",
    "helper.assignable": "be assigned as one-to-one helper",
    "publish": "publish an activity or a learning material to a unit",
    "activity.join": "join an activity published to an audience (Party activities: Party members of it only)",
    "activity.manage": "close, reopen, cancel an activity, check people in, export the list",
    "learning.study": "open a learning material published to an audience and mark it studied",
    "stats.view": "see statistics of a unit",
    "kpi.view": "see secretaries' KPI of a unit",
    "directory.search": "find people by name, within the units where the searcher leads, serves or administers",
    "person.party": "see whether a person is a Party member (Party organisations and admins, within scope)",
    "voice.raise": "raise a concern (心声) with the branch one belongs to, named or anonymous",
    "voice.handle": "read, reply to and close the 心声 raised in one's branch (branch secretary)",
    "talk.confirm": "confirm or deny a sampled talk one was the subject of (抽查回访)",
    "roster.admin": "import or sync the roster, grant and revoke roles, resend dead messages (admin, within the admin's subtree)",
}


# the roles whose units bound a directory search (`directory.search`; also `search_scopes` in handlers)
DIRECTORY_ROLES = (Role.TEAM_LEADER, Role.SECRETARY, Role.COMMITTEE, Role.ADMIN)


def roles_of(person: Person | None) -> set[Role]:
    if person is None or not person.active:
        return set()
    return {Role(r.role) for r in person.roles}


def has_role(person: Person | None, *roles: Role) -> bool:
    return bool(roles_of(person) & set(roles))


def scopes(person: Person, *roles: Role) -> list[Unit]:
    return [r.unit for r in person.roles if Role(r.role) in roles and r.unit is not None]


def _unit_of(target: Any) -> Unit | None:
    if target is None:
        return None
    if isinstance(target, Unit):
        return target
    if isinstance(target, Person):
        return target.unit
    return getattr(target, "scope_unit", None)


def _covers(person: Person, unit: Unit | None, *roles: Role) -> bool:
    if unit is None:
        return False
    return any(scope.contains(unit) for scope in scopes(person, *roles))


def can(person: Person | None, action: str, target: Any = None) -> bool:
    """May `person` do `action` on `target`? With target None: may they do it anywhere at all."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if person is None or not person.active:
        return False
    unit = _unit_of(target)
    anywhere = target is None

    if action == "talk.record":
        if anywhere:
            return has_role(person, Role.TEAM_LEADER, Role.SECRETARY)
        if isinstance(target, Person) and (target.id == person.id or not target.active):
            return False
        return _covers(person, unit, Role.TEAM_LEADER, Role.SECRETARY)
    if action == "talk.read":
        if anywhere:
            return has_role(person, Role.TEAM_LEADER, Role.SECRETARY, Role.COMMITTEE)
        if getattr(target, "author_id", None) == person.id:
            return True
        return _covers(person, unit, Role.SECRETARY, Role.COMMITTEE)
    if action == "team.coverage":
        if anywhere:
            return has_role(person, Role.TEAM_LEADER, Role.SECRETARY, Role.COMMITTEE)
        return _covers(person, unit, Role.TEAM_LEADER, Role.SECRETARY, Role.COMMITTEE)
    if action == "case.read":
        if anywhere:
            return has_role(person, Role.SECRETARY, Role.COMMITTEE, Role.UNION, Role.YOUTH) or person.is_party_member
        if getattr(target, "helper_id", None) == person.id:
            return True
        if _covers(person, unit, Role.SECRETARY, Role.COMMITTEE):
            return True
        # union / youth approvers see only the requests whose chain has their level
        return _covers(person, unit, *[r for r in getattr(target, "approval_roles", ()) if r in (Role.UNION, Role.YOUTH)])
    if action == "case.handle":
        if anywhere:
            return has_role(person, Role.SECRETARY)
        return _covers(person, unit, Role.SECRETARY)
    if action == "care.approve":
        if anywhere:
            return has_role(person, *APPROVER_ROLES)
        return _covers(person, unit, getattr(target, "approver_role", None) or Role.COMMITTEE)
    if action == "case.progress":
        if anywhere:
            return person.is_party_member
        return getattr(target, "helper_id", None) == person.id
    if action == "helper.assignable":
        return person.is_party_member
    if action == "publish":
        if anywhere:
            return has_role(person, Role.SECRETARY, Role.COMMITTEE)
        return _covers(person, unit, Role.SECRETARY, Role.COMMITTEE)
    if action == "activity.join":
        if anywhere:
            return True
        if getattr(target, "party_only", False) and not person.is_party_member:
            return False
        audience = getattr(target, "audience_unit", None) or unit
        return person.unit is not None and audience is not None and audience.contains(person.unit)
    if action == "learning.study":
        if anywhere:
            return True
        audience = getattr(target, "audience_unit", None) or unit
        return person.unit is not None and audience is not None and audience.contains(person.unit)
    if action == "activity.manage":
        if anywhere:
            return has_role(person, Role.SECRETARY, Role.COMMITTEE)
        if getattr(target, "organiser_id", None) == person.id:
            return True
        return _covers(person, unit, Role.SECRETARY, Role.COMMITTEE)
    if action == "stats.view":
        if anywhere:
            return has_role(person, Role.SECRETARY, Role.COMMITTEE)
        return _covers(person, unit, Role.SECRETARY, Role.COMMITTEE)
    if action == "kpi.view":
        if anywhere:
            return has_role(person, Role.COMMITTEE)
        return _covers(person, unit, Role.COMMITTEE)
    if action == "directory.search":
        if anywhere:
            return has_role(person, *DIRECTORY_ROLES)
        return _covers(person, unit, *DIRECTORY_ROLES)
    if action == "person.party":
        if anywhere:
            return has_role(person, Role.SECRETARY, Role.COMMITTEE, Role.ADMIN)
        return _covers(person, unit, Role.SECRETARY, Role.COMMITTEE, Role.ADMIN)
    if action == "voice.raise":
        if person.unit is None:
            return False
        return anywhere or (unit is not None and unit.contains(person.unit))
    if action == "voice.handle":
        if anywhere:
            return has_role(person, Role.SECRETARY)
        return _covers(person, unit, Role.SECRETARY)
    if action == "talk.confirm":
        if anywhere:
            return True
        return getattr(target, "subject_id", None) == person.id
    if action == "roster.admin":
        if anywhere:
            return has_role(person, Role.ADMIN)
        if unit is None:  # a person without a unit, or a company-wide object: root admins only
            return any(scope.parent_id is None for scope in scopes(person, Role.ADMIN))
        return _covers(person, unit, Role.ADMIN)
    raise AssertionError(action)  # every action above returns
