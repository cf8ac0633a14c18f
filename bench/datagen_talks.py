"""Historical talks for a generated company (bench.datagen.seed_company): bulk Core inserts.

`generate_talks(engine, n_talks=250_000)` spreads talks over the last `n_quarters` quarters (10
years by default): every team member gets talks from the team's leader in past quarters, and in
the current quarter a share (`current_share`) of the members has been talked to already, so
"who is not yet talked to this quarter" has a realistic answer. Summaries and needs go through
the Talk table's EncryptedText type, i.e. they are encrypted with the configured notes cipher
exactly as in production (configure_keys / LIANXIN_NOTES_KEYS must be set).
"""
from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

__all__ = ["generate_talks"]

SNIPPETS = ["本季度工作状态良好，对班组排班无意见", "家中老人身体欠佳，已表达关心", "对绩效考核细则有疑问，已解释",
            "新入职，适应较快，希望多参加培训", "近期加班较多，略感疲惫", "与同事沟通顺畅，无思想负担",
            "孩子升学压力较大，情绪有波动", "希望调整到白班，已向车间反映", "身体检查发现小问题，正在治疗",
            "对职称评审政策关心，已说明流程"]
KINDS = ["quarterly"] * 8 + ["special", "home_visit"]
MOODS = ["stable"] * 8 + ["some_concern"] * 2 + ["serious_concern"]
CATEGORIES = ["pay", "family", "health", "workload", "relations", "other"]


def _quarter_start(year: int, q: int, tz) -> datetime:
    return datetime(year, 3 * (q - 1) + 1, 1, tzinfo=tz)


def generate_talks(engine: Engine, n_talks: int = 250_000, *, now: datetime | None = None, n_quarters: int = 40,
                   current_share: float = 0.55, seed: int = 4, batch: int = 10_000, tz: str = "Asia/Shanghai") -> dict:
    """Insert `n_talks` talks; returns {"talks", "current_quarter", "current_talks", "seconds"}."""
    from zoneinfo import ZoneInfo

    import models  # noqa: F401
    from models.enums import Role
    from models.org import Person, RoleAssignment, Unit
    from models.talk import Talk, quarter_of

    started = time.perf_counter()
    rnd = random.Random(seed)
    zone = ZoneInfo(tz)
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        members = conn.execute(select(Person.id, Person.unit_id).join(Unit, Unit.id == Person.unit_id)
                               .where(Unit.kind == "team", Person.active.is_(True))).all()
        leaders = dict(conn.execute(select(RoleAssignment.unit_id, func.min(RoleAssignment.person_id))
                                    .where(RoleAssignment.role == Role.TEAM_LEADER.value)
                                    .group_by(RoleAssignment.unit_id)).all())
    members = [(pid, unit) for pid, unit in members if leaders.get(unit) not in (None, pid)]
    if not members:
        raise ValueError("no team members: seed the company first")

    local_now = now.astimezone(zone)
    cur_year, cur_q = local_now.year, (local_now.month - 1) // 3 + 1
    quarters = []
    y, q = cur_year, cur_q
    for _ in range(n_quarters):
        quarters.append((y, q))
        y, q = (y - 1, 4) if q == 1 else (y, q - 1)
    current = quarters[0]
    cur_start = _quarter_start(*current, zone)

    current_people = rnd.sample(members, int(len(members) * current_share))
    n_current = min(len(current_people), n_talks)
    table = Talk.__table__
    rows: list[dict] = []
    inserted = 0

    def row(subject: int, unit: int, at: datetime) -> dict:
        flag = "none" if rnd.random() < 0.9 else rnd.choice(["watch", "watch", "urgent"])
        return {"author_id": leaders[unit], "subject_id": subject, "kind": rnd.choice(KINDS), "occurred_at": at,
                "quarter": quarter_of(at, tz), "summary": rnd.choice(SNIPPETS), "mood": rnd.choice(MOODS),
                "flag": flag, "category": rnd.choice(CATEGORIES) if flag != "none" else None,
                "needs": None if rnd.random() < 0.8 else "希望得到组织帮助", "follows_up_id": None, "version": 1,
                "created_at": at, "updated_at": at}

    def flush(conn) -> None:
        nonlocal rows, inserted
        if rows:
            conn.execute(table.insert(), rows)
            inserted += len(rows)
            rows = []

    with engine.begin() as conn:
        span_now = max(1.0, (now - cur_start).total_seconds())
        for pid, unit in current_people[:n_current]:
            rows.append(row(pid, unit, cur_start + timedelta(seconds=rnd.uniform(0, span_now - 1))))
            if len(rows) >= batch:
                flush(conn)
        past = quarters[1:]
        for _ in range(n_talks - n_current):
            pid, unit = members[rnd.randrange(len(members))]
            y, q = past[rnd.randrange(len(past))]
            start = _quarter_start(y, q, zone)
            at = (start + timedelta(days=rnd.uniform(0, 89))).astimezone(UTC)
            rows.append(row(pid, unit, at))
            if len(rows) >= batch:
                flush(conn)
        flush(conn)
        if engine.dialect.name == "postgresql":
            from sqlalchemy import text

            conn.execute(text("SELECT setval(pg_get_serial_sequence('talk', 'id'), (SELECT max(id) FROM talk))"))
    if engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE talk"))  # as autovacuum would after a bulk load
            conn.execute(text("ANALYZE"))
    return {"talks": inserted, "current_quarter": f"{current[0]}Q{current[1]}", "current_talks": n_current,
            "members": len(members), "seconds": time.perf_counter() - started}
