"""The demo organisation: a committee, a general branch, 2 branches, 4 teams, ~30 people.

Every role is present so that every flow can be tried in the simulator. User ids are pinyin
(zhangsan) so they are easy to type in `lianxin chat --as zhangsan`.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.enums import Role
from models.org import Person, Unit
from models.orgtree import add_person, ensure_unit_path, grant

__all__ = ["BRANCH_A", "BRANCH_B", "COMMITTEE", "DEMO_USERS", "TEAMS", "seed_demo"]

COMMITTEE = "技术公司党委"
BRANCH_A = f"{COMMITTEE}/浦东基地党总支/外航维修党支部"
BRANCH_B = f"{COMMITTEE}/浦东基地党总支/附件修理党支部"
TEAMS = {
    "四车间班组": BRANCH_A, "五车间班组": BRANCH_A,
    "部件一班组": BRANCH_B, "部件二班组": BRANCH_B,
}

# (userid, name, unit, party member, roles as (role, unit path))
DEMO_USERS: list[tuple[str, str, str, bool, list[tuple[str, str]]]] = [
    ("admin", "系统管理员", COMMITTEE, False, [(Role.ADMIN, COMMITTEE)]),
    ("wangwei", "王伟", COMMITTEE, True, [(Role.COMMITTEE, COMMITTEE)]),
    ("zhaomin", "赵敏", COMMITTEE, True, [(Role.COMMITTEE, COMMITTEE)]),
    ("liqiang", "李强", BRANCH_A, True, [(Role.SECRETARY, BRANCH_A)]),
    ("chenjing", "陈静", BRANCH_B, True, [(Role.SECRETARY, BRANCH_B)]),
    ("sunli", "孙丽", COMMITTEE, True, [(Role.UNION, COMMITTEE)]),        # 工会: approves 困难帮扶 with an amount
    ("liuyang", "刘洋", COMMITTEE, True, [(Role.YOUTH, COMMITTEE)]),      # 团委: youth matters
]
_TEAM_PEOPLE = {
    "四车间班组": [("zhouli", "周丽", True, True), ("zhangsan", "张三", False, False), ("lisi", "李四", True, False),
                ("wangwu", "王五", False, False), ("zhaoliu", "赵六", False, False), ("sunqi", "孙七", True, False),
                ("zhangsanfeng", "张三丰", False, False)],
    "五车间班组": [("wugang", "吴刚", True, True), ("zhengyi", "郑毅", False, False), ("fengxue", "冯雪", False, False),
                ("chenchen", "陈晨", True, False), ("weilan", "卫兰", False, False), ("jiangtao", "蒋涛", False, False)],
    "部件一班组": [("hanmei", "韩梅", True, True), ("yangfan", "杨帆", False, False), ("zhuhong", "朱红", True, False),
                ("qinlei", "秦磊", False, False), ("youlan", "尤兰", False, False), ("xuming", "许明", False, False)],
    "部件二班组": [("hefei", "何飞", True, True), ("lvping", "吕萍", False, False), ("shiyu", "施雨", False, False),
                ("zhangwei", "张伟", True, False), ("kongjie", "孔杰", False, False), ("caoyu", "曹宇", False, False)],
}
for _team, _people in _TEAM_PEOPLE.items():
    _path = f"{TEAMS[_team]}/{_team}"
    for _uid, _name, _party, _leader in _people:
        DEMO_USERS.append((_uid, _name, _path, _party, [(Role.TEAM_LEADER, _path)] if _leader else []))


def seed_demo(db: Session) -> int:
    """Create the demo organisation if the database holds no people yet; returns people added."""
    if db.scalar(select(func.count()).select_from(Person)):
        return 0
    cache: dict[str, Unit] = {}
    for uid, name, unit_path, party, roles in DEMO_USERS:
        unit = ensure_unit_path(db, unit_path, cache)
        person = add_person(db, name=name, unit=unit, wecom_userid=uid, dingtalk_userid=f"dt_{uid}", party=party)
        for role, scope_path in roles:
            grant(db, person, str(role), ensure_unit_path(db, scope_path, cache))
    db.flush()
    return len(DEMO_USERS)
