"""Group commit for sign-up storms: join clicks on one activity that reach a worker together are settled
in one transaction, then each click is answered.

A click on 报名 waits up to `activities.storm_window_ms` for other clicks on the same activity in this process,
and longer while this process's previous batch on the activity is still settling (classic group commit: the
busier the worker, the larger its batches, so the per-batch statements are shared by more clicks); the first
one (the leader) then settles them all in one transaction of its own:

  INSERT … processed_delivery (every click's delivery key; ON CONFLICT DO NOTHING RETURNING: a
  retried delivery that was settled before is found here and takes nothing) → the activity row
  FOR UPDATE (PostgreSQL; SQLite's BEGIN IMMEDIATE serialises) with the queue length → the
  clickers' existing sign-ups → one UPDATE of seats_taken for all the seats given → one multi-row
  INSERT of sign-ups in arrival order (ids, hence queue positions, follow that order) → the audit
  rows and every clicker's card update as one batch of outbox rows → COMMIT.

Each click's own turn then writes nothing (its delivery row is in the batch) and answers with the
outcome the batch gave it. If the batch fails, every click in it fails and the platform retries
each; a worker killed mid-batch commits nothing, and the Redis claims it held are still "in
progress", so the retries are processed (bot.turn). Batches of different workers queue on the
activity row, so seats are never oversold and the queue order is the order of settlement.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.context import Context, queue_card_updates
from bot.messages import Card, Incoming
from models.activity import Activity, ActivityStatus, Signup, SignupStatus
from models.audit import audit_values, write_audits
from models.db import rowcount
from models.org import Person, Unit
from models.outbox import ProcessedDelivery
from models.policy import can

from .cards import activity_card
from .seats import ActivityView, PersonRef, UnitRef
from .service import JoinOutcome, JoinResult

__all__ = ["batched_join"]

MAX_BATCH = 1000    # a batch this large is settled without waiting out the window

_A, _U, _P, _S = (cast(Table, m.__table__) for m in (Activity, Unit, Person, Signup))   # Core tables of the mapped classes
_OPEN, _CONFIRMED = ActivityStatus.OPEN, SignupStatus.CONFIRMED
_WAITLISTED, _CANCELLED = SignupStatus.WAITLISTED, SignupStatus.CANCELLED
_VIEWER = {"confirmed": _CONFIRMED, "already_confirmed": _CONFIRMED, "waitlisted": _WAITLISTED,
           "already_waitlisted": _WAITLISTED, "full": "full"}

_ACTIVITY = (select(_A.c.id, _A.c.title, _A.c.description, _A.c.kind, _A.c.starts_at, _A.c.ends_at, _A.c.place,
                    _A.c.seats, _A.c.seats_taken, _A.c.waitlist, _A.c.deadline, _A.c.status, _A.c.organiser_id,
                    _U.c.id.label("unit_id"), _U.c.name.label("unit_name"), _U.c.path.label("unit_path"),
                    _P.c.name.label("organiser_name"))
             .select_from(_A.join(_U, _U.c.id == _A.c.audience_unit_id).join(_P, _P.c.id == _A.c.organiser_id))
             .where(_A.c.id == bindparam("activity")))
_LOCKED = _ACTIVITY.with_for_update(of=_A)
_QUEUED = select(func.count()).select_from(_S).where(_S.c.activity_id == bindparam("activity"),
                                                     _S.c.status == _WAITLISTED)
_SEATS = (update(_A).where(_A.c.id == bindparam("activity"),
                           (_A.c.seats.is_(None)) | (_A.c.seats_taken + bindparam("n") <= _A.c.seats))
          .values(seats_taken=_A.c.seats_taken + bindparam("n")))
_AGAIN: dict[JoinOutcome, JoinOutcome] = {"confirmed": "already_confirmed", "waitlisted": "already_waitlisted"}
_INSERTS: dict[str, Callable[[Table | type[ProcessedDelivery]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": pg_insert, "sqlite": sqlite_insert}
# constant statements run with a list of rows (one multi-row INSERT each, "insertmanyvalues"): compiled
# once, where `.values(rows)` compiled a new statement for every batch
_PD = cast(Table, ProcessedDelivery.__table__)
_DELIVERIES = {d: ins(_PD).on_conflict_do_nothing().returning(_PD.c.key) for d, ins in _INSERTS.items()}
_SIGNUPS = {d: ins(_S).on_conflict_do_nothing().returning(_S.c.person_id, _S.c.id) for d, ins in _INSERTS.items()}


@dataclass
class Click:
    """One join click waiting for its batch."""
    person: Person
    delivery: str          # "platform:message id", the processed_delivery key
    incoming: Incoming
    via: str
    result: JoinResult | None = None
    duplicate: bool = False


@dataclass
class _Batch:
    clicks: list[Click] = field(default_factory=list)
    closed: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class _Gather:
    """Per-process meeting point of the clicks on each activity (gunicorn threads, or greenlets)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[tuple[int, int], _Batch] = {}   # (id of the engine, activity id)
        self.settling: dict[tuple[int, int], threading.Lock] = {}   # one batch of an activity in flight at a time


_GATHER = _Gather()


def batched_join(ctx: Context, activity_id: int, tz: str) -> tuple[JoinResult, bool]:
    """Settle this click together with the others on `activity_id`; (result, was a repeat)."""
    inc = ctx.incoming
    click = Click(ctx.me, f"{inc.platform}:{inc.message_id}"[:200], inc, ctx.command or "activity")
    bind = ctx.db.get_bind()
    key = (id(bind), activity_id)
    with _GATHER.lock:
        batch = _GATHER.open.get(key)
        leader = batch is None
        if batch is None:
            batch = _GATHER.open[key] = _Batch()
        batch.clicks.append(click)
        if len(batch.clicks) >= MAX_BATCH:
            _GATHER.open.pop(key, None)
    if leader:
        time.sleep(ctx.config.get("activities.storm_window_ms", float) / 1000)
        with _GATHER.lock:
            turn = _GATHER.settling.setdefault(key, threading.Lock())
        with turn:   # the batch stays open (and grows) while the previous one commits
            with _GATHER.lock:
                if _GATHER.open.get(key) is batch:
                    del _GATHER.open[key]
            try:
                with Session(bind=bind, expire_on_commit=False) as db:
                    settle(db, activity_id, batch.clicks, ctx.now(), tz)
                    db.commit()
            except BaseException as exc:
                batch.error = exc
                raise
            finally:
                batch.done.set()
    else:
        batch.done.wait()
        if batch.error is not None:
            raise RuntimeError("the sign-up batch this click was in failed") from batch.error
    assert click.result is not None or click.duplicate
    return click.result or JoinResult("not_found"), click.duplicate


def settle(db: Session, activity_id: int, clicks: list[Click], now: datetime, tz: str) -> None:
    """The batch's transaction (the caller commits): see the module docstring."""
    dialect = db.get_bind().dialect.name
    keys = [c.delivery for c in clicks]
    fresh = set(db.scalars(_DELIVERIES[dialect], [{"key": k, "at": now} for k in keys]))
    live = []
    for c in clicks:
        if c.delivery in fresh:
            live.append(c)
            fresh.discard(c.delivery)      # the same delivery twice in one batch: the second is a repeat
        else:
            c.duplicate = True
    if not live:
        return
    row = db.execute(_LOCKED if dialect == "postgresql" else _ACTIVITY, {"activity": activity_id}).first()
    if row is None:
        for c in live:
            c.result = JoinResult("not_found")
        return
    act = ActivityView(row.id, row.title, row.description, row.kind, row.starts_at, row.ends_at, row.place,
                       row.seats, row.seats_taken, row.waitlist, row.deadline, row.status,
                       UnitRef(row.unit_id, row.unit_name, row.unit_path), PersonRef(row.organiser_id, row.organiser_name))
    queued = db.scalar(_QUEUED, {"activity": activity_id}) or 0
    ids = list({c.person.id for c in live})
    existing = {r.person_id: r for r in db.execute(
        select(_S.c.id, _S.c.person_id, _S.c.status).where(_S.c.activity_id == activity_id, _S.c.person_id.in_(ids)))}
    positions: dict[int, int] = {}
    if any(r.status == _WAITLISTED for r in existing.values()):
        waiting = db.scalars(select(_S.c.id).where(_S.c.activity_id == activity_id, _S.c.status == _WAITLISTED)
                             .order_by(_S.c.id)).all()
        positions = {sid: n for n, sid in enumerate(waiting, 1)}
    joiners: list[Click] = []
    seen: set[int] = set()
    rejoin: list[int] = []
    for c in live:
        pid = c.person.id
        had = existing.get(pid)
        if pid in seen:                       # the same person clicked twice in this batch
            c.result = None                   # decided below, once the first click is settled
            continue
        seen.add(pid)
        if had is not None and had.status == _CONFIRMED:
            c.result = JoinResult("already_confirmed", act)
        elif had is not None and had.status == _WAITLISTED:
            c.result = JoinResult("already_waitlisted", act, positions.get(had.id))
        elif not can(c.person, "activity.join", act):
            c.result = JoinResult("not_audience", act)
        elif act.status != _OPEN:
            c.result = JoinResult("cancelled" if act.status == ActivityStatus.CANCELLED else "closed", act)
        elif now > act.deadline or now >= act.starts_at:
            c.result = JoinResult("deadline", act)
        else:
            if had is not None:               # a cancelled sign-up: re-join at the back of the queue
                rejoin.append(had.id)
            joiners.append(c)
    if rejoin:
        db.execute(delete(_S).where(_S.c.id.in_(rejoin), _S.c.status == _CANCELLED))
    free = len(joiners) if act.seats is None else max(0, act.seats - act.seats_taken)
    seated, rest = joiners[:free], joiners[free:]
    if not act.waitlist:
        for c in rest:
            c.result = JoinResult("full", act)
        rest = []
    if seated:
        if rowcount(db.execute(_SEATS, {"activity": activity_id, "n": len(seated)})) != 1:
            raise RuntimeError("seat count moved under the activity lock")
        act.seats_taken += len(seated)
    if seated or rest:
        rows = [{"activity_id": activity_id, "person_id": c.person.id, "status": st, "created_at": now,
                 "updated_at": now} for st, group in ((_CONFIRMED, seated), (_WAITLISTED, rest)) for c in group]
        inserted = dict((r.person_id, r.id) for r in db.execute(_SIGNUPS[dialect], rows))
        if len(inserted) != len(rows):        # the activity row lock makes this impossible; refuse loudly
            raise RuntimeError("a sign-up of this batch already existed")
        for c in seated:
            c.result = JoinResult("confirmed", act)
        order = sorted(inserted[c.person.id] for c in rest)
        place = {sid: queued + n for n, sid in enumerate(order, 1)}
        for c in rest:
            c.result = JoinResult("waitlisted", act, place[inserted[c.person.id]])
    first: dict[int, JoinResult] = {}
    cards: list[tuple[Incoming, Card]] = []
    audits: list[dict[str, Any]] = []
    for c in live:
        if c.result is not None:
            first.setdefault(c.person.id, c.result)
    for c in live:
        if c.result is None:                  # a second click of the same person
            r = first[c.person.id]
            again: JoinOutcome = _AGAIN.get(r.outcome, r.outcome)
            c.result = JoinResult(again, act, r.position)
        if c.result.outcome in ("confirmed", "waitlisted"):
            audits.append(audit_values(actor_id=c.person.id, action="activity.join", target_type="activity",
                                       target_id=act.id, via=c.via, detail=c.result.outcome))
        cards.append((c.incoming, activity_card(act, tz, viewer=_VIEWER.get(c.result.outcome),
                                                position=c.result.position, now=now, card_id=c.incoming.card_id or "")))
    write_audits(db, audits)          # one multi-row INSERT
    queue_card_updates(db, cards)     # and the card updates another
