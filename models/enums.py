"""Enumerations shared by columns, forms, cards and the access policy."""
from __future__ import annotations

from enum import StrEnum


class UnitKind(StrEnum):
    COMMITTEE = "committee"          # 党委
    GENERAL_BRANCH = "general_branch"  # 党总支
    BRANCH = "branch"                # 党支部
    TEAM = "team"                    # 班组


class Role(StrEnum):
    TEAM_LEADER = "team_leader"      # 班组长, scope: a team
    SECRETARY = "secretary"          # 支部书记, scope: a branch (or general branch)
    COMMITTEE = "committee"          # 党委委员, scope: a committee subtree
    ADMIN = "admin"                  # 管理员, scope: a subtree (usually the root)
    UNION = "union"                  # 工会审批人, scope: a subtree (a care request's union level)
    YOUTH = "youth"                  # 团委审批人, scope: a subtree (youth matters: 团员, under 35)


ROLE_LABELS = {
    Role.TEAM_LEADER: "班组长",
    Role.SECRETARY: "支部书记",
    Role.COMMITTEE: "党委委员",
    Role.ADMIN: "管理员",
    Role.UNION: "工会",
    Role.YOUTH: "团委",
}
# the names a roster file or an admin command may use for a role (Chinese and English)
ROLE_NAMES: dict[str, Role] = {
    "班组长": Role.TEAM_LEADER, "组长": Role.TEAM_LEADER, "team_leader": Role.TEAM_LEADER, "leader": Role.TEAM_LEADER,
    "支部书记": Role.SECRETARY, "书记": Role.SECRETARY, "secretary": Role.SECRETARY,
    "党委委员": Role.COMMITTEE, "委员": Role.COMMITTEE, "committee": Role.COMMITTEE,
    "管理员": Role.ADMIN, "admin": Role.ADMIN,
    "工会": Role.UNION, "工会主席": Role.UNION, "union": Role.UNION,
    "团委": Role.YOUTH, "团委书记": Role.YOUTH, "youth": Role.YOUTH,
}
# roles that may be a level of a care request's approval chain (config care.approval_chain)
APPROVER_ROLES = (Role.SECRETARY, Role.COMMITTEE, Role.UNION, Role.YOUTH)
UNIT_KIND_LABELS = {
    UnitKind.COMMITTEE: "党委",
    UnitKind.GENERAL_BRANCH: "党总支",
    UnitKind.BRANCH: "党支部",
    UnitKind.TEAM: "班组",
}
