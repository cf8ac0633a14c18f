"""The turn's write count survives a savepoint: a write made before `begin_nested()` is still a write.

SQLAlchemy fires after_begin for a SAVEPOINT too; the count was reset there, so a turn that wrote and
then opened a read-only savepoint looked like a read and was closed without a commit."""
from __future__ import annotations

from sqlalchemy import select

from models.audit import audit
from models.outbox import ProcessedDelivery


def test_a_write_before_a_read_only_savepoint_still_counts(services):
    from bot.dispatcher import _CONN, _TURN, _WRITES

    assert services.dispatcher.sf is services.session_factory   # the turn's factory, with its listeners
    db = services.session_factory()
    try:
        db.info[_TURN] = True
        audit(db, actor_id=None, action="probe", target_type="test", target_id="1", via="test")
        db.flush()
        with db.begin_nested():
            db.execute(select(ProcessedDelivery.key)).all()   # a savepoint that only reads
        assert db.info[_CONN].info[_WRITES] >= 1               # the INSERT before it still counts
    finally:
        db.rollback()
        db.close()


def test_a_confirmed_change_is_saved_by_every_new_dispatcher_on_the_engine(services):
    """Each Services builds its own session factory; one built after an earlier one was collected
    (the next test, a tool) reuses its id(), and event.contains took it for hooked: its turns
    recorded no connection and closed without a commit — 已设为党员 answered, nothing saved."""
    import gc

    from bot.adapters.simulator import sim_incoming
    from bot.dispatcher import Dispatcher
    from models.db import make_session_factory
    from models.org import Person

    old = services.dispatcher

    def member(userid: str) -> bool:
        with services.session_factory() as db:
            return db.scalars(select(Person.is_party_member).where(Person.wecom_userid == userid)).one()

    for n in range(30):
        dispatcher = Dispatcher(config=services.config, registry=old.registry, clock=services.clock,
                                session_factory=make_session_factory(services.engine), store=old.store,
                                deduper=old.deduper)
        on = not member("zhangsan")
        dispatcher.handle(sim_incoming("admin", text=("设为党员" if on else "取消党员") + " zhangsan"))
        answer = dispatcher.handle(sim_incoming("admin", text="确认")).text
        assert answer.startswith("已设为党员" if on else "已取消党员"), answer
        assert member("zhangsan") is on, f"round {n}: {answer!r} was answered, the change was not saved"
        del dispatcher
        gc.collect()          # the factory goes; the next one may get its id()
