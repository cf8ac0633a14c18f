"""免打扰 关 says non-urgent messages resume: what was held for the mute must come now, not at
the mute's old end (seen on the production path: a 心声 card waited a day after 免打扰 关).
Through the real dispatcher and relay, on both storage stacks."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from models.db import session_scope
from models.outbox import OutboxMessage

NOON = datetime(2030, 3, 4, 4, 0, tzinfo=UTC)     # 12:00 in Shanghai, a Monday


def _voice_titles(sim, clock, user: str) -> list[str]:
    sim.outbox.run_once(now=clock.now())
    return [t for t in (getattr(m, "title", "") for m in sim.inbox(user)) if "心声" in t]


def test_unmute_delivers_what_the_mute_held(sim, services, clock):
    clock.set(NOON)
    assert "已开启免打扰" in sim.say("liqiang", "免打扰 3天").text
    sim.say("zhangsan", "心声 匿名 宿舍热水时有时无")
    assert _voice_titles(sim, clock, "liqiang") == []                    # held for the mute
    assert sim.say("liqiang", "免打扰 关").text == "已关闭免打扰，非紧急消息恢复正常送达。"
    assert _voice_titles(sim, clock, "liqiang") == ["员工心声 #1"]        # now, as the reply says


def test_shortened_mute_delivers_at_the_new_end(sim, services, clock):
    clock.set(NOON)
    sim.say("liqiang", "免打扰 3天")
    sim.say("zhangsan", "心声 匿名 宿舍热水时有时无")
    assert "到 03-04 14:00 为止" in sim.say("liqiang", "免打扰 2小时").text
    with session_scope(services.session_factory) as db:
        held = db.scalars(select(OutboxMessage).where(OutboxMessage.ref.like("voice:%"))).one()
        assert held.next_attempt_at == datetime(2030, 3, 4, 6, 0, tzinfo=UTC)
    clock.advance(hours=2)
    assert _voice_titles(sim, clock, "liqiang") == ["员工心声 #1"]
