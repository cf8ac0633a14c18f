"""reports.queries.coverage on both storage stacks: members, leaders excluded, quarter boundaries in Shanghai."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from models.org import Person, Unit
from models.quarters import current_quarter, previous_quarter, quarter_bounds
from models.talk import Talk, quarter_of
from reports.queries.coverage import missing_by_team, team_counts, team_coverage, team_ids_for


def _person(db, userid):
    return db.scalars(select(Person).where(Person.wecom_userid == userid)).one()


def _team(db, name):
    return db.scalars(select(Unit).where(Unit.name == name)).one()


def _talk(db, author, subject, at):
    db.add(Talk(author_id=author.id, subject_id=subject.id, kind="quarterly", occurred_at=at,
                quarter=quarter_of(at), summary="内容", mood="stable", flag="none"))


def test_quarter_helpers_use_shanghai_boundaries():
    # 2026-09-30 17:00 UTC is already 2026-10-01 01:00 in Shanghai
    assert quarter_of(datetime(2026, 9, 30, 17, 0, tzinfo=UTC)) == "2026Q4"
    assert quarter_of(datetime(2026, 9, 30, 15, 59, tzinfo=UTC)) == "2026Q3"
    start, end = quarter_bounds("2026Q4")
    assert start == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    assert previous_quarter("2026Q1") == "2025Q4" and previous_quarter("2026Q3") == "2026Q2"
    assert current_quarter(datetime(2026, 11, 25, tzinfo=UTC)) == "2026Q4"


def test_team_coverage_lists_talked_and_missing_without_the_leader(services):
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    with services.session_factory() as db:
        zhouli, zhangsan, lisi = _person(db, "zhouli"), _person(db, "zhangsan"), _person(db, "lisi")
        _talk(db, zhouli, zhangsan, now)
        _talk(db, zhouli, zhangsan, datetime(2026, 10, 2, tzinfo=UTC))
        _talk(db, zhouli, lisi, datetime(2026, 9, 30, 15, 0, tzinfo=UTC))  # Q3 in Shanghai
        db.commit()
        team = _team(db, "四车间班组")
        [cov] = team_coverage(db, "2026Q4", [team.id])
        names = {m.name for m in cov.members}
        assert "周丽" not in names and {"张三", "李四", "王五"} <= names  # the leader is not her own member
        assert cov.leader_ids == [zhouli.id]
        assert [m.name for m in cov.talked] == ["张三"]
        assert cov.talked[0].talks_in_quarter == 2 and cov.talked[0].last_talk_at == now
        lisi_row = next(m for m in cov.members if m.name == "李四")
        assert not lisi_row.talked and lisi_row.last_talk_at == datetime(2026, 9, 30, 15, 0, tzinfo=UTC)
        assert cov.total == 6 and len(cov.missing) == 5

        missing = missing_by_team(db, "2026Q4")
        assert zhangsan.id not in [pid for pid, _ in missing[team.id]]
        assert (lisi.id, "李四") in missing[team.id]
        assert len(missing) == 4  # every demo team has someone missing
        assert team_counts(db, "2026Q4")[team.id] == (6, 1)
        assert team_counts(db, "2026Q3")[team.id] == (6, 1)

        branch = db.scalars(select(Unit).where(Unit.name == "附件修理党支部")).one()
        assert set(missing_by_team(db, "2026Q4", branch)) == {_team(db, "部件一班组").id, _team(db, "部件二班组").id}
        assert len(team_coverage(db, "2026Q4")) == 4
        assert team_coverage(db, "2026Q4", [team.id], include_leaders=True)[0].total == 7


def test_team_ids_for_roles(services):
    with services.session_factory() as db:
        assert team_ids_for(db, _person(db, "zhouli")) == [_team(db, "四车间班组").id]
        assert len(team_ids_for(db, _person(db, "liqiang"))) == 2
        assert len(team_ids_for(db, _person(db, "wangwei"))) == 4
        assert team_ids_for(db, _person(db, "zhangsan")) == []


def test_inactive_people_and_empty_selection(services):
    with services.session_factory() as db:
        wangwu = _person(db, "wangwu")
        wangwu.active = False
        db.commit()
        team = _team(db, "四车间班组")
        assert (wangwu.id, "王五") not in missing_by_team(db, "2026Q4", team_ids=[team.id])[team.id]
        assert team_coverage(db, "2026Q4", []) == []


def test_generated_company_matches_a_naive_count(stack):
    """On a small generated company, the set-based answers equal a person-by-person computation."""
    from bench.datagen import seed_company
    from bench.datagen_talks import generate_talks
    from models.db import make_session_factory
    from models.enums import Role
    from models.org import RoleAssignment

    engine, _ = stack
    info = seed_company(engine, n_people=400, n_teams=40, n_branches=4, n_general_branches=2, n_committee=2)
    now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    talks = generate_talks(engine, 3000, now=now, n_quarters=8, batch=700)
    assert talks["talks"] == 3000 and talks["current_quarter"] == "2026Q4"
    with make_session_factory(engine)() as db:
        people = db.execute(select(Person.id, Person.unit_id).join(Unit, Unit.id == Person.unit_id)
                            .where(Unit.kind == "team")).all()
        leaders = {(r.person_id, r.unit_id) for r in db.scalars(select(RoleAssignment)
                                                              .where(RoleAssignment.role == Role.TEAM_LEADER.value))}
        talked = set(db.scalars(select(Talk.subject_id).where(Talk.quarter == "2026Q4")))
        naive: dict[int, set[int]] = {}
        for pid, unit in people:
            if (pid, unit) not in leaders and pid not in talked:
                naive.setdefault(unit, set()).add(pid)
        got = missing_by_team(db, "2026Q4")
        assert {k: {pid for pid, _ in v} for k, v in got.items()} == naive
        counts = team_counts(db, "2026Q4")
        assert sum(n for n, _ in counts.values()) == len(people) - len(leaders)
        assert sum(t for _, t in counts.values()) == len(talked)
        covs = team_coverage(db, "2026Q4")
        assert len(covs) == 40 and sum(len(c.missing) for c in covs) == sum(len(v) for v in naive.values())
        assert set(info["team_ids"]) == {c.team_id for c in covs}
