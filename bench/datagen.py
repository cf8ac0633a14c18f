"""Company-scale test data: a committee → general branches → branches → teams → people.

Two views of one deterministic organisation (same seed → same data):

- `seed_company(engine, ...)` writes it straight into the database with SQLAlchemy Core bulk
  inserts (explicit ids, materialised paths computed up front; ~1-3 s for 12,000 people on
  SQLite or PostgreSQL). Use it to give a benchmark or a load test a realistic organisation.
- `roster_rows(...)` yields the same organisation as roster-file rows (the columns
  `lianxin import-roster` reads), and `write_roster_csv(path, ...)` writes them to a CSV file.

Roles: a team leader per team (班组长), a secretary per branch and per general branch (支部书记),
`n_committee` committee members (党委委员) and one admin (管理员), all on the root committee.
User ids are "u00001"…; DingTalk ids "dt_u00001"…. The admin is always "u00001".

    from bench.datagen import seed_company
    info = seed_company(engine)            # {"units": 2111, "people": 12000, ...}
"""
from __future__ import annotations

import csv
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

__all__ = ["ROSTER_HEADER", "CompanyPlan", "plan_company", "roster_rows", "seed_company", "write_roster_csv"]

ROOT_NAME = "技术公司党委"
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
                "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国志文斌辉宇浩凯晨欣怡婷雪琳佳慧俊峰波宁海云亮林东")
BASES = ["浦东基地", "虹桥基地", "北京基地", "广州基地", "成都基地", "西安基地", "昆明基地", "青岛基地",
         "武汉基地", "深圳基地", "杭州基地", "南京基地", "厦门基地", "沈阳基地", "重庆基地", "郑州基地"]
WORKSHOPS = ["航线", "定检", "部件", "发动机", "起落架", "客舱", "航电", "结构", "工装", "质检", "附件", "机库"]

# roster columns (the header row of a CSV written by write_roster_csv); roster.read reads these
ROSTER_HEADER = ["单位", "企业微信账号", "钉钉账号", "姓名", "手机", "党员", "角色"]
ROLE_CN = {"team_leader": "班组长", "secretary": "支部书记", "committee": "党委委员", "admin": "管理员"}

_PINYIN: dict[str, str] = {}


def _pinyin(name: str) -> str:
    key = _PINYIN.get(name)
    if key is None:
        from models.directory import pinyin_key

        key = _PINYIN[name] = pinyin_key(name)
    return key


@dataclass
class PlannedUnit:
    index: int              # 0-based position; parents come before children
    name: str
    kind: str               # committee / general_branch / branch / team
    parent: int | None      # index of the parent unit
    full_name: str


@dataclass
class PlannedPerson:
    index: int
    userid: str
    name: str
    unit: int               # index of the unit
    party: bool
    phone: str
    roles: list[str] = field(default_factory=list)   # role values; scope = the person's own unit


@dataclass
class CompanyPlan:
    units: list[PlannedUnit]
    people: list[PlannedPerson]

    @property
    def n_roles(self) -> int:
        return sum(len(p.roles) for p in self.people)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def plan_company(n_people: int = 12000, n_teams: int = 2000, n_branches: int = 100,
                 n_general_branches: int = 10, n_committee: int = 5, seed: int = 20261125,
                 root_name: str = ROOT_NAME) -> CompanyPlan:
    """The organisation as plain data (deterministic for a given seed)."""
    if n_branches < 1 or n_teams < n_branches:
        raise ValueError("need at least one branch and at least one team per branch")
    n_general_branches = max(0, min(n_general_branches, n_branches))
    staff = 1 + n_committee + n_general_branches + n_branches
    if n_people < staff + n_teams:
        raise ValueError(f"n_people must be at least {staff + n_teams} (one leader per team plus officers)")
    rnd = random.Random(seed)

    units: list[PlannedUnit] = [PlannedUnit(0, root_name, "committee", None, root_name)]

    def add_unit(name: str, kind: str, parent: int) -> int:
        u = PlannedUnit(len(units), name, kind, parent, f"{units[parent].full_name}/{name}")
        units.append(u)
        return u.index

    generals = [add_unit(f"{BASES[g % len(BASES)]}{'' if g < len(BASES) else g // len(BASES) + 1}党总支",
                         "general_branch", 0) for g in range(n_general_branches)]
    branches: list[int] = []
    for b in range(n_branches):
        parent = generals[b % len(generals)] if generals else 0
        branches.append(add_unit(f"{WORKSHOPS[b % len(WORKSHOPS)]}{b + 1:03d}党支部", "branch", parent))
    teams: list[int] = []
    for b, per_branch in zip(branches, _split(n_teams, n_branches), strict=False):
        for _ in range(per_branch):
            n = len(teams) + 1
            teams.append(add_unit(f"{WORKSHOPS[rnd.randrange(len(WORKSHOPS))]}{n:04d}班组", "team", b))

    people: list[PlannedPerson] = []

    def add_person(unit: int, party: bool, roles: list[str]) -> None:
        i = len(people)
        name = rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2, 2))))
        people.append(PlannedPerson(i, f"u{i + 1:05d}", name, unit, party,
                                    f"139{rnd.randrange(10**8):08d}" if rnd.random() < 0.7 else "", roles))

    add_person(0, False, ["admin"])
    for _ in range(n_committee):
        add_person(0, True, ["committee"])
    for g in generals:
        add_person(g, True, ["secretary"])
    for b in branches:
        add_person(b, True, ["secretary"])
    members = n_people - len(people)
    for t, size in zip(teams, _split(members, n_teams), strict=False):
        for k in range(size):
            leader = k == 0
            add_person(t, rnd.random() < (0.6 if leader else 0.3), ["team_leader"] if leader else [])
    return CompanyPlan(units, people)


def _next_id(conn, table) -> int:
    return (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1


def _fix_sequence(conn, table) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                          f"(SELECT COALESCE(MAX(id), 1) FROM {table.name}))"))


def seed_company(engine: Engine, n_people: int = 12000, n_teams: int = 2000, n_branches: int = 100,
                 n_general_branches: int = 10, n_committee: int = 5, seed: int = 20261125,
                 root_name: str = ROOT_NAME) -> dict:
    """Bulk-insert the planned organisation into an (empty or demo) database; returns a summary.

    Summary keys: units, people, roles, seconds, root_id, root_path, admin (userid),
    committee (userids), secretaries {branch full_name: userid}, leaders {team full_name: userid},
    branch_ids, team_ids, general_branch_ids.
    """
    import models  # noqa: F401  (registers every table)
    from models.org import Person, RoleAssignment, Unit

    started = time.perf_counter()
    plan = plan_company(n_people, n_teams, n_branches, n_general_branches, n_committee, seed, root_name)
    ut, pt, rt = Unit.__table__, Person.__table__, RoleAssignment.__table__
    with engine.begin() as conn:
        if conn.execute(select(ut.c.id).where(ut.c.full_name == root_name)).first():
            raise ValueError(f"unit {root_name!r} already exists; pass another root_name")
        uid0, pid0, rid0 = _next_id(conn, ut), _next_id(conn, pt), _next_id(conn, rt)
        unit_ids = [uid0 + u.index for u in plan.units]
        paths: list[str] = []
        unit_rows = []
        for u in plan.units:
            path = (paths[u.parent] if u.parent is not None else "/") + f"{unit_ids[u.index]}/"
            paths.append(path)
            unit_rows.append({"id": unit_ids[u.index], "parent_id": unit_ids[u.parent] if u.parent is not None else None,
                              "name": u.name, "kind": u.kind, "path": path, "full_name": u.full_name,
                              "active": True})
        conn.execute(ut.insert(), unit_rows)
        person_rows, role_rows = [], []
        for p in plan.people:
            pid = pid0 + p.index
            person_rows.append({"id": pid, "name": p.name, "name_pinyin": _pinyin(p.name),
                                "wecom_userid": p.userid, "dingtalk_userid": f"dt_{p.userid}",
                                "phone": p.phone or None, "unit_id": unit_ids[p.unit],
                                "is_party_member": p.party, "active": True})
            for role in p.roles:
                role_rows.append({"id": rid0 + len(role_rows), "person_id": pid, "role": role,
                                  "unit_id": unit_ids[p.unit]})
        for i in range(0, len(person_rows), 5000):
            conn.execute(pt.insert(), person_rows[i:i + 5000])
        conn.execute(rt.insert(), role_rows)
        for table in (ut, pt, rt):
            _fix_sequence(conn, table)

    by_kind: dict[str, list[int]] = {}
    for u in plan.units:
        by_kind.setdefault(u.kind, []).append(unit_ids[u.index])
    secretaries, leaders, committee, admin = {}, {}, [], ""
    for p in plan.people:
        unit = plan.units[p.unit]
        if "admin" in p.roles:
            admin = p.userid
        if "committee" in p.roles:
            committee.append(p.userid)
        if "secretary" in p.roles:
            secretaries[unit.full_name] = p.userid
        if "team_leader" in p.roles:
            leaders[unit.full_name] = p.userid
    return {
        "units": len(plan.units), "people": len(plan.people), "roles": plan.n_roles,
        "seconds": round(time.perf_counter() - started, 3),
        "root_id": unit_ids[0], "root_path": paths[0], "admin": admin, "committee": committee,
        "secretaries": secretaries, "leaders": leaders,
        "general_branch_ids": by_kind.get("general_branch", []), "branch_ids": by_kind.get("branch", []),
        "team_ids": by_kind.get("team", []),
    }


def roster_rows(n_people: int = 12000, n_teams: int = 2000, n_branches: int = 100,
                n_general_branches: int = 10, n_committee: int = 5, seed: int = 20261125,
                root_name: str = ROOT_NAME, *, english_roles: bool = False) -> Iterator[list[str]]:
    """The same organisation as roster rows in ROSTER_HEADER order (header not included)."""
    plan = plan_company(n_people, n_teams, n_branches, n_general_branches, n_committee, seed, root_name)
    for p in plan.people:
        roles = ";".join(r if english_roles else ROLE_CN[r] for r in p.roles)
        yield [plan.units[p.unit].full_name, p.userid, f"dt_{p.userid}", p.name, p.phone,
               "是" if p.party else "否", roles]


def write_roster_csv(path: str | Path, **kw) -> int:
    """Write roster_rows(**kw) with a header to a UTF-8 (BOM, Excel-friendly) CSV; returns rows written."""
    n = 0
    with open(path, "w", newline="", encoding="utf-8-sig") as fh:
        w = csv.writer(fh)
        w.writerow(ROSTER_HEADER)
        for row in roster_rows(**kw):
            w.writerow(row)
            n += 1
    return n


if __name__ == "__main__":  # pragma: no cover - manual use
    import argparse

    ap = argparse.ArgumentParser(description="seed a company-scale organisation or write a roster CSV")
    ap.add_argument("--db", help="database URL to seed (tables are created if missing)")
    ap.add_argument("--csv", help="write the roster to this CSV file instead")
    ap.add_argument("--people", type=int, default=12000)
    ap.add_argument("--teams", type=int, default=2000)
    ap.add_argument("--branches", type=int, default=100)
    args = ap.parse_args()
    if args.csv:
        print(write_roster_csv(args.csv, n_people=args.people, n_teams=args.teams, n_branches=args.branches), "rows")
    if args.db:
        import models
        from models.db import make_engine

        eng = make_engine(args.db)
        models.Base.metadata.create_all(eng)
        info = seed_company(eng, args.people, args.teams, args.branches)
        print({k: v for k, v in info.items() if not isinstance(v, (list, dict))})
