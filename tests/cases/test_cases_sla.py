"""SLA: overdue → reminder to the holder, later escalation one level up; each step once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.adapters.simulator import sim_incoming
from handlers.cases.cards import CaseAction
from handlers.cases.jobs import sla_escalation
from handlers.cases.sla import overdue
from models.outbox import OutboxMessage
from scheduler.context import JobContext
from tests.case_helpers import flag_talk, load, request_care, sim_say


def job(services) -> JobContext:
    return JobContext(config=services.config, session_factory=services.session_factory, clock=services.clock,
                      redis=services.redis)


def sla_messages(services, case_id):
    with services.session_factory() as db:
        rows = db.scalars(select(OutboxMessage).where(OutboxMessage.ref == f"case:{case_id}")
                          .order_by(OutboxMessage.id)).all()
        return [(sorted(r.recipients), r.payload["text"]) for r in rows]


def test_urgent_flag_reminds_then_escalates_once(services, clock):
    t0 = clock.now()
    case_id = flag_talk(services, flag="urgent")
    clock.set(t0 + timedelta(hours=3, minutes=59))
    assert sla_escalation(job(services)) == 0
    clock.set(t0 + timedelta(hours=4))
    assert sla_escalation(job(services)) == 1
    assert sla_escalation(job(services)) == 0  # the next 15-minute run sends nothing again
    [(who, text)] = sla_messages(services, case_id)
    assert who == ["liqiang"] and "超时提醒" in text and "4小时" in text

    clock.set(t0 + timedelta(hours=27, minutes=59))
    assert sla_escalation(job(services)) == 0
    clock.set(t0 + timedelta(hours=28))
    assert sla_escalation(job(services)) == 1
    assert sla_escalation(job(services)) == 0
    who, text = sla_messages(services, case_id)[-1]
    assert who == ["wangwei", "zhaomin"] and "超时上报" in text  # no general-branch secretary: the committee
    clock.set(t0 + timedelta(days=30))
    assert sla_escalation(job(services)) == 0
    kinds = [e.kind for e in load(services, case_id).events]
    assert kinds == ["transition", "reminder", "escalation"]


def test_watch_flag_gets_48_hours_and_acknowledging_stops_the_clock(services, clock, sim):
    t0 = clock.now()
    case_id = flag_talk(services, flag="watch")
    with services.session_factory() as db:
        assert overdue(db, services.config, t0 + timedelta(hours=47)) == []
        assert [s.case.id for s in overdue(db, services.config, t0 + timedelta(hours=48))] == [case_id]
    request_care(sim_say(sim), "liqiang", case_id, "其他 需要慰问")  # moves on: the approval clock starts now
    clock.set(t0 + timedelta(hours=48))
    assert sla_escalation(job(services)) == 0
    clock.set(t0 + timedelta(hours=72))
    assert sla_escalation(job(services)) == 1
    who, text = sla_messages(services, case_id)[-1]
    assert who == ["wangwei", "zhaomin"] and "待审批" in text


def test_silent_helper_is_reminded_then_the_secretary_told(services, clock, sim):
    t0 = clock.now()
    case_id = flag_talk(services)
    request_care(sim_say(sim), "liqiang", case_id, "其他 需要慰问")
    services.dispatcher.handle(sim_incoming("wangwei", action=CaseAction(case_id, "approve").pack()))
    sim.say("liqiang", f"指派 {case_id} 李四")
    assert load(services, case_id).state == "helper_assigned"
    clock.set(t0 + timedelta(hours=168))
    assert sla_escalation(job(services)) == 1
    assert sla_messages(services, case_id)[-1][0] == ["lisi"]
    sim.say("lisi", "进展 已电话联系")   # a progress report restarts the clock
    clock.set(t0 + timedelta(hours=168 + 24))
    assert sla_escalation(job(services)) == 0
    clock.set(t0 + timedelta(hours=168 + 168))
    assert sla_escalation(job(services)) == 1
    clock.set(t0 + timedelta(hours=168 + 168 + 24))
    assert sla_escalation(job(services)) == 1
    assert sla_messages(services, case_id)[-1][0] == ["liqiang"]


def test_two_sla_runs_at_the_same_moment_send_each_step_once(services, clock):
    import threading

    t0 = clock.now()
    case_ids = [flag_talk(services, flag="urgent") for _ in range(3)]
    clock.set(t0 + timedelta(hours=5))
    barrier, counts = threading.Barrier(2), []

    def run():
        barrier.wait()
        counts.append(sla_escalation(job(services)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(counts) == 3
    assert all(len(sla_messages(services, c)) == 1 for c in case_ids)
