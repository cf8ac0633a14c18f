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
