"""Stand-in for the one-line talk command, used by bench_webhook.py only while the talks
branch has not landed: `谈话 张三 <summary>` writes a Talk (encrypted summary) and an audit
row in the handling transaction and replies with a confirmation — the same database work as a
real talk submission (insert with a Fernet-encrypted field + audit), without its parsing rules.
"""
from __future__ import annotations

from sqlalchemy import select

from bot.context import Context
from bot.router import Router
from models.org import Person
from models.talk import Talk, TalkKind, quarter_of

router = Router("bench_standin_talk")


@router.command("谈话", "talk", help="（基准测试替身）记录一次谈话")
def talk(ctx: Context, args: str) -> None:
    name, _, summary = args.partition(" ")
    subject = ctx.db.scalars(select(Person).where(Person.name == name)).first()
    if subject is None:
        ctx.reply(f"没有找到“{name}”。")
        return
    now = ctx.now()
    row = Talk(author_id=ctx.person.id, subject_id=subject.id, kind=TalkKind.QUARTERLY.value,
               occurred_at=now, quarter=quarter_of(now), summary=summary or "（无）")
    ctx.db.add(row)
    ctx.db.flush()
    ctx.audit("create", "talk", row.id)
    ctx.reply(f"已记录与{subject.name}的谈话（{row.quarter}）。")
