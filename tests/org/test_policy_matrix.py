"""The whole access matrix: role × action × (anywhere / in scope / out of scope), every cell literal.

The organisation (no database needed; the policy only reads paths):

    C  技术公司党委 /1/                      X  外单位党委 /20/ (another committee)
    └ G 党总支 /1/2/                         └ XB 支部 /20/21/ └ XT 班组 /20/21/22/
      ├ B  外航维修党支部 /1/2/3/
      │  ├ T  四车间班组 /1/2/3/4/   ← the "in scope" target for every role
      │  └ T' 五车间班组 /1/2/3/5/
      └ B2 附件修理党支部 /1/2/6/ └ T2 部件班组 /1/2/6/7/

Who (no one is a Party member unless the row says so, so each row shows one role's effect):
  employee, party member, team leader: in T; leader leads T.
  secretary: in B, secretary of B.  committee: in C, committee of C.  admin: in C, admin of C.
  union (工会) and youth (团委) approvers: in C, that role on C.
Targets: "in scope" = an object/person in T (activity.join, learning.study: an activity/material for
audience C); "out of scope" = just outside the role's scope: T' (employee, party member, team
leader), T2 (secretary), XT (committee, admin, union, youth); activity.join, learning.study: audience X.
care.approve: a request waiting at the level of the row's approver role (the committee's for the rest);
case.read: an item whose approval chain is committee → union → youth.
The relation cells (author, helper, organiser) are asserted in the tests below the matrix.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from models.enums import Role
from models.org import Person, RoleAssignment, Unit
from models.policy import ACTIONS, can


def unit(uid: int, path: str, name: str, parent: int | None) -> Unit:
    return Unit(id=uid, path=path, full_name=name, name=name.rsplit("/", 1)[-1], parent_id=parent, kind="team")


C = unit(1, "/1/", "C", None)
G = unit(2, "/1/2/", "C/G", 1)
B = unit(3, "/1/2/3/", "C/G/B", 2)
T = unit(4, "/1/2/3/4/", "C/G/B/T", 3)
T_SIB = unit(5, "/1/2/3/5/", "C/G/B/T'", 3)
B2 = unit(6, "/1/2/6/", "C/G/B2", 2)
T2 = unit(7, "/1/2/6/7/", "C/G/B2/T2", 6)
X = unit(20, "/20/", "X", None)
XB = unit(21, "/20/21/", "X/XB", 20)
XT = unit(22, "/20/21/22/", "X/XB/XT", 21)

_ids = iter(range(100, 1000))


def person(at: Unit, *, party: bool = False, roles: tuple[tuple[Role, Unit], ...] = (), active: bool = True) -> Person:
    p = Person(id=next(_ids), name=f"p{at.id}", unit=at, unit_id=at.id, is_party_member=party, active=active)
    for role, scope in roles:
        p.roles.append(RoleAssignment(role=role.value, unit=scope, unit_id=scope.id))
    return p


WHO = {
    "employee": person(T),
    "party member": person(T, party=True),
    "team leader": person(T, roles=((Role.TEAM_LEADER, T),)),
    "secretary": person(B, roles=((Role.SECRETARY, B),)),
    "committee": person(C, roles=((Role.COMMITTEE, C),)),
    "admin": person(C, roles=((Role.ADMIN, C),)),
    "union": person(C, roles=((Role.UNION, C),)),
    "youth": person(C, roles=((Role.YOUTH, C),)),
}
OUT_UNIT = {"employee": T_SIB, "party member": T_SIB, "team leader": T_SIB, "secretary": T2,
            "committee": XT, "admin": XT, "union": XT, "youth": XT}
LEVEL_OF = {"secretary": Role.SECRETARY, "union": Role.UNION, "youth": Role.YOUTH}


def target(action: str, where: str, who: str):
    """The object asked about: None (anywhere), in scope, or just outside the role's scope."""
    if where == "anywhere":
        return None
    at = T if where == "in" else OUT_UNIT[who]
    if action == "talk.record":
        return person(at)                                   # someone else, in that team
    if action in ("activity.join", "learning.study", "voice.raise"):
        audience = C if where == "in" else X
        return SimpleNamespace(id=1, scope_unit=audience, audience_unit=audience, organiser_id=None)
    return SimpleNamespace(id=1, scope_unit=at, author_id=None, helper_id=None, organiser_id=None,
                           approver_role=LEVEL_OF.get(who, Role.COMMITTEE),
                           approval_roles=(Role.COMMITTEE, Role.UNION, Role.YOUTH))


# (anywhere, in scope, out of scope) — written from DESIGN.md §2, not computed
Y, N = True, False
EXPECTED: dict[str, dict[str, tuple[bool, bool, bool]]] = {
    "employee": {
        "talk.record": (N, N, N), "talk.read": (N, N, N), "team.coverage": (N, N, N), "case.read": (N, N, N),
        "case.handle": (N, N, N), "care.approve": (N, N, N), "case.progress": (N, N, N),
        "helper.assignable": (N, N, N), "publish": (N, N, N), "activity.join": (Y, Y, N), "learning.study": (Y, Y, N),
        "activity.manage": (N, N, N), "stats.view": (N, N, N), "kpi.view": (N, N, N),
        "directory.search": (N, N, N), "person.party": (N, N, N), "roster.admin": (N, N, N),
        "voice.raise": (Y, Y, N), "voice.handle": (N, N, N),
        "talk.confirm": (Y, N, N),       # only talks they were the subject of (relation below)
    },
    "party member": {
        "talk.record": (N, N, N), "talk.read": (N, N, N), "team.coverage": (N, N, N),
        "case.read": (Y, N, N),           # may see the cases they help with (relation test below)
        "case.handle": (N, N, N), "care.approve": (N, N, N),
        "case.progress": (Y, N, N),       # only on cases where they are the helper
        "helper.assignable": (Y, Y, Y), "publish": (N, N, N), "activity.join": (Y, Y, N), "learning.study": (Y, Y, N),
        "activity.manage": (N, N, N), "stats.view": (N, N, N), "kpi.view": (N, N, N),
        "directory.search": (N, N, N), "person.party": (N, N, N), "roster.admin": (N, N, N),
        "voice.raise": (Y, Y, N), "voice.handle": (N, N, N),
        "talk.confirm": (Y, N, N),       # only talks they were the subject of (relation below)
    },
    "team leader": {
        "talk.record": (Y, Y, N),
        "talk.read": (Y, N, N),           # only their own talks (author relation below)
        "team.coverage": (Y, Y, N), "case.read": (N, N, N), "case.handle": (N, N, N),
        "care.approve": (N, N, N), "case.progress": (N, N, N), "helper.assignable": (N, N, N),
        "publish": (N, N, N), "activity.join": (Y, Y, N), "learning.study": (Y, Y, N), "activity.manage": (N, N, N),
        "stats.view": (N, N, N), "kpi.view": (N, N, N), "directory.search": (Y, Y, N),
        "person.party": (N, N, N),        # political status: Party organisations only
        "roster.admin": (N, N, N),
        "voice.raise": (Y, Y, N), "voice.handle": (N, N, N),
        "talk.confirm": (Y, N, N),       # only talks they were the subject of (relation below)
    },
    "secretary": {
        "talk.record": (Y, Y, N), "talk.read": (Y, Y, N), "team.coverage": (Y, Y, N), "case.read": (Y, Y, N),
        "case.handle": (Y, Y, N),
        "care.approve": (Y, Y, N),        # a request at the secretary level (small 慰问) of their branch
        "case.progress": (N, N, N),
        "helper.assignable": (N, N, N), "publish": (Y, Y, N), "activity.join": (Y, Y, N), "learning.study": (Y, Y, N),
        "activity.manage": (Y, Y, N), "stats.view": (Y, Y, N), "kpi.view": (N, N, N),
        "directory.search": (Y, Y, N), "person.party": (Y, Y, N), "roster.admin": (N, N, N),
        "voice.raise": (Y, Y, N), "voice.handle": (Y, Y, N),
        "talk.confirm": (Y, N, N),       # only talks they were the subject of (relation below)
    },
    "committee": {
        "talk.record": (N, N, N), "talk.read": (Y, Y, N), "team.coverage": (Y, Y, N), "case.read": (Y, Y, N),
        "case.handle": (N, N, N), "care.approve": (Y, Y, N), "case.progress": (N, N, N),
        "helper.assignable": (N, N, N), "publish": (Y, Y, N), "activity.join": (Y, Y, N), "learning.study": (Y, Y, N),
        "activity.manage": (Y, Y, N), "stats.view": (Y, Y, N), "kpi.view": (Y, Y, N),
        "directory.search": (Y, Y, N), "person.party": (Y, Y, N), "roster.admin": (N, N, N),
        "voice.raise": (Y, Y, N), "voice.handle": (N, N, N),
        "talk.confirm": (Y, N, N),       # only talks they were the subject of (relation below)
    },
    "admin": {
        "talk.record": (N, N, N), "talk.read": (N, N, N), "team.coverage": (N, N, N), "case.read": (N, N, N),
        "case.handle": (N, N, N), "care.approve": (N, N, N), "case.progress": (N, N, N),
        "helper.assignable": (N, N, N), "publish": (N, N, N), "activity.join": (Y, Y, N), "learning.study": (Y, Y, N),
        "activity.manage": (N, N, N), "stats.view": (N, N, N), "kpi.view": (N, N, N),
        "directory.search": (Y, Y, N), "person.party": (Y, Y, N), "roster.admin": (Y, Y, N),
        "voice.raise": (Y, Y, N), "voice.handle": (N, N, N),
        "talk.confirm": (Y, N, N),       # only talks they were the subject of (relation below)
    },
    "union": {
        "talk.record": (N, N, N), "talk.read": (N, N, N), "team.coverage": (N, N, N),
        "case.read": (Y, Y, N),           # only items whose chain has a union level
        "case.handle": (N, N, N),
        "care.approve": (Y, Y, N),        # only at the union level
        "case.progress": (N, N, N), "helper.assignable": (N, N, N), "publish": (N, N, N),
        "activity.join": (Y, Y, N), "learning.study": (Y, Y, N), "activity.manage": (N, N, N),
        "stats.view": (N, N, N), "kpi.view": (N, N, N), "directory.search": (N, N, N), "person.party": (N, N, N),
        "roster.admin": (N, N, N), "voice.raise": (Y, Y, N), "voice.handle": (N, N, N), "talk.confirm": (Y, N, N),
    },
    "youth": {
        "talk.record": (N, N, N), "talk.read": (N, N, N), "team.coverage": (N, N, N),
        "case.read": (Y, Y, N),           # only items whose chain has a youth level
        "case.handle": (N, N, N),
        "care.approve": (Y, Y, N),        # only at the youth level
        "case.progress": (N, N, N), "helper.assignable": (N, N, N), "publish": (N, N, N),
        "activity.join": (Y, Y, N), "learning.study": (Y, Y, N), "activity.manage": (N, N, N),
        "stats.view": (N, N, N), "kpi.view": (N, N, N), "directory.search": (N, N, N), "person.party": (N, N, N),
        "roster.admin": (N, N, N), "voice.raise": (Y, Y, N), "voice.handle": (N, N, N), "talk.confirm": (Y, N, N),
    },
}

CELLS = [(who, action, where, EXPECTED[who][action][i])
         for who in EXPECTED for action in ACTIONS for i, where in enumerate(("anywhere", "in", "out"))]


def test_the_table_covers_every_role_and_every_action():
    assert set(EXPECTED) == {"employee", "party member", "team leader", "secretary", "committee", "admin", "union",
                             "youth"}
    for who, row in EXPECTED.items():
        assert set(row) == set(ACTIONS), who


@pytest.mark.parametrize("who,action,where,expected", CELLS,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CELLS])
def test_matrix_cell(who, action, where, expected):
    assert can(WHO[who], action, target(action, where, who)) is expected


# --- relations and edge cells ------------------------------------------------------------------

def test_author_reads_own_talk_anywhere_but_not_others():
    leader = WHO["team leader"]
    own = SimpleNamespace(id=1, scope_unit=T_SIB, author_id=leader.id)
    other = SimpleNamespace(id=2, scope_unit=T, author_id=WHO["secretary"].id)
    assert can(leader, "talk.read", own) is True
    assert can(leader, "talk.read", other) is False
    assert can(WHO["employee"], "talk.read", SimpleNamespace(id=3, scope_unit=T, author_id=999)) is False


def test_helper_sees_and_reports_on_own_case_only():
    helper = WHO["party member"]
    case = SimpleNamespace(id=1, scope_unit=XT, helper_id=helper.id)
    other = SimpleNamespace(id=2, scope_unit=T, helper_id=999)
    assert (can(helper, "case.read", case), can(helper, "case.progress", case)) == (True, True)
    assert (can(helper, "case.read", other), can(helper, "case.progress", other)) == (False, False)


def test_each_approver_decides_only_at_their_level_and_reads_only_their_chains():
    union, com, sec = WHO["union"], WHO["committee"], WHO["secretary"]
    at_union = SimpleNamespace(id=1, scope_unit=T, approver_role=Role.UNION, approval_roles=(Role.COMMITTEE, Role.UNION))
    at_committee = SimpleNamespace(id=2, scope_unit=T, approver_role=Role.COMMITTEE, approval_roles=(Role.COMMITTEE,))
    assert (can(union, "care.approve", at_union), can(union, "care.approve", at_committee)) == (True, False)
    assert (can(com, "care.approve", at_union), can(com, "care.approve", at_committee)) == (False, True)
    assert can(sec, "care.approve", at_committee) is False
    assert (can(union, "case.read", at_union), can(union, "case.read", at_committee)) == (True, False)
    assert can(WHO["youth"], "case.read", at_union) is False


def test_subject_confirms_only_their_own_sampled_talk():
    employee = WHO["employee"]
    own = SimpleNamespace(id=1, scope_unit=T, subject_id=employee.id)
    other = SimpleNamespace(id=2, scope_unit=T, subject_id=999)
    assert can(employee, "talk.confirm", own) is True
    assert can(employee, "talk.confirm", other) is False
    assert can(WHO["secretary"], "talk.confirm", own) is False


def test_voice_goes_to_ones_own_branch_and_nobody_without_a_unit_raises_one():
    employee = WHO["employee"]
    assert can(employee, "voice.raise", B) is True and can(employee, "voice.raise", B2) is False
    homeless = person(T)
    homeless.unit, homeless.unit_id = None, None
    assert can(homeless, "voice.raise", None) is False


# A Party activity (主题党日, 党课, 组织生活会; `party_only`): activity.join (in scope, out of scope),
# written from issue 18 — only the Party members of the audience. Nobody in WHO but "party member" is one.
PARTY_ONLY_JOIN: dict[str, tuple[bool, bool]] = {
    "employee": (N, N), "party member": (Y, N), "team leader": (N, N),
    "secretary": (N, N), "committee": (N, N), "admin": (N, N),
}


@pytest.mark.parametrize("who", list(PARTY_ONLY_JOIN))
def test_party_activity_is_joined_by_party_members_of_the_audience_only(who):
    inside = SimpleNamespace(id=1, scope_unit=C, audience_unit=C, organiser_id=None, party_only=True)
    outside = SimpleNamespace(id=2, scope_unit=X, audience_unit=X, organiser_id=None, party_only=True)
    assert (can(WHO[who], "activity.join", inside), can(WHO[who], "activity.join", outside)) == PARTY_ONLY_JOIN[who]
    assert can(WHO[who], "activity.join", None) is True       # "may join something": the open activities


def test_a_party_member_secretary_joins_party_activities():
    sec = person(B, party=True, roles=((Role.SECRETARY, B),))
    assert can(sec, "activity.join", SimpleNamespace(id=1, scope_unit=C, audience_unit=C, party_only=True)) is True


def test_organiser_manages_own_activity():
    leader = WHO["team leader"]
    assert can(leader, "activity.manage", SimpleNamespace(id=1, scope_unit=XT, organiser_id=leader.id)) is True
    assert can(leader, "activity.manage", SimpleNamespace(id=2, scope_unit=T, organiser_id=999)) is False


def test_secretary_covers_every_team_of_the_branch_and_committee_the_whole_subtree():
    sec, com = WHO["secretary"], WHO["committee"]
    for team in (T, T_SIB):
        assert can(sec, "talk.read", SimpleNamespace(id=1, scope_unit=team, author_id=None)) is True
    assert can(sec, "stats.view", B) is True and can(sec, "stats.view", G) is False
    assert can(com, "stats.view", G) is True and can(com, "kpi.view", C) is True and can(com, "kpi.view", X) is False


def test_nobody_records_a_talk_with_themselves_or_an_inactive_person():
    leader = WHO["team leader"]
    assert can(leader, "talk.record", leader) is False
    assert can(leader, "talk.record", person(T, active=False)) is False


def test_inactive_people_and_nobody_may_do_nothing():
    gone = person(B, roles=((Role.SECRETARY, B),), active=False)
    for action in ACTIONS:
        assert can(gone, action, None) is False, action
        assert can(None, action, None) is False, action


def test_admin_of_a_subtree_administers_only_that_subtree():
    sub_admin = person(B, roles=((Role.ADMIN, B),))
    assert can(sub_admin, "roster.admin", T) is True
    assert can(sub_admin, "roster.admin", T2) is False
    unassigned = person(T)
    unassigned.unit, unassigned.unit_id = None, None
    assert can(sub_admin, "roster.admin", unassigned) is False          # only root admins
    assert can(WHO["admin"], "roster.admin", unassigned) is True


def test_unknown_action_is_an_error():
    with pytest.raises(ValueError):
        can(WHO["admin"], "talk.delete", None)
