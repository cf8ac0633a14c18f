"""Company scale: the generated 12,000-person roster imports, and re-imports with 0 changes; the
bulk generator (bench/datagen.py) writes a consistent tree that the ORM can keep extending."""
from __future__ import annotations

from sqlalchemy import func, select

from bench.datagen import seed_company, write_roster_csv
from models.db import make_session_factory, session_scope
from models.org import Person, RoleAssignment, Unit
from models.orgtree import ensure_unit_path
from models.policy import can
from roster.apply import import_roster


def test_company_roster_imports_and_reimports_with_zero_changes(embedded, tmp_path):
    """SQLite only to keep the suite fast; `python bench/bench_import.py --pg URL` covers PostgreSQL."""
    engine, _ = embedded
    factory = make_session_factory(engine)
    f = tmp_path / "company.csv"
    assert write_roster_csv(f) == 12000
    with session_scope(factory) as db:
        first = import_roster(db, f)
    assert not first.errors and len(first.created) == 12000 and len(first.units_created) == 1 + 10 + 100 + 2000
    with session_scope(factory) as db:
        again = import_roster(db, f)
        assert again.changes == 0
        assert db.scalar(select(func.count()).select_from(Person).where(Person.active.is_(True))) == 12000
        teams = db.scalar(select(func.count()).select_from(Unit).where(Unit.kind == "team"))
        leaders = db.scalar(select(func.count()).select_from(RoleAssignment).where(RoleAssignment.role == "team_leader"))
        assert (teams, leaders) == (2000, 2000)


def test_seed_company_tree_is_consistent_and_extendable(stack):
    engine, _ = stack
    info = seed_company(engine, n_people=600, n_teams=100, n_branches=10, n_general_branches=2, n_committee=3)
    assert (info["units"], info["people"]) == (1 + 2 + 10 + 100, 600)
    factory = make_session_factory(engine)
    with session_scope(factory) as db:
        by_id = {u.id: u for u in db.scalars(select(Unit))}
        for u in by_id.values():               # path = parent's path + own id; full_name likewise
            parent = by_id.get(u.parent_id)
            assert u.path == (parent.path if parent else "/") + f"{u.id}/"
            assert u.full_name == (f"{parent.full_name}/{u.name}" if parent else u.name)
        team_id = info["team_ids"][0]
        leader = db.scalars(select(Person).where(Person.wecom_userid == info["leaders"][by_id[team_id].full_name])).one()
        member = db.scalars(select(Person).where(Person.unit_id == team_id, Person.id != leader.id)).first()
        assert can(leader, "talk.record", member) is True
        admin = db.scalars(select(Person).where(Person.wecom_userid == info["admin"])).one()
        assert can(admin, "roster.admin", member) is True
        # ids continue after the bulk insert (PostgreSQL sequences were moved on)
        new = ensure_unit_path(db, f"{by_id[info['root_id']].full_name}/新成立党支部")
        assert new.id > max(by_id)
