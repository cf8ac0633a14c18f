"""待办 / todo: what the sender owes, across domains, each item with its exact next commands;
卡片 / card re-sends an item's card (bot.pending is the contract each domain fills)."""
from __future__ import annotations

from bot.args import not_found, split_item_number
from bot.context import Context
from bot.pending import PendingItem, collect
from bot.router import Router

router = Router("todo")

MAX_LINES = 40


def _has_duties(ctx: Context) -> bool:
    """Role holders and Party members (possible helpers): an ordinary employee's own things are in
    活动 / 我的报名 / 学习, and 帮助 does not offer them 待办."""
    person = ctx.person
    return person is not None and (bool(person.roles) or person.is_party_member)


@router.command("待办", "todo", help="我的待办：每一项写明下一步发送什么", allowed=_has_duties)
def todo(ctx: Context, args: str) -> None:
    """List every pending item of every domain, grouped by section, with the commands that move it on."""
    items = collect(ctx)
    if not items:
        ctx.reply("目前没有待办。")
        return
    lines: list[str] = [f"您的待办（共 {len(items)} 项）："]
    section = None
    for item in items[:MAX_LINES]:
        if item.section != section:
            section = item.section
            lines.append(f"【{section}】")
        lines.append(f"· {item.text}")
        if item.commands:
            lines.append("  → 发送" + " 或 ".join(f"“{c}”" for c in item.commands))
    if len(items) > MAX_LINES:
        lines.append(f"……另有 {len(items) - MAX_LINES} 项未列出，请先处理以上各项。")
    with_card = next((i for i in items if i.noun and i.noun in ctx.registry.card_sources), None)
    if with_card is not None:
        lines.append(f"卡片找不到了？发送“卡片 {with_card.noun} {with_card.number}”重新发送。")
    ctx.reply("\n".join(lines))


def _nouns(ctx: Context) -> list[str]:
    return sorted(ctx.registry.card_sources, key=len, reverse=True)


@router.command("卡片", "card", help="重新发送某一项的卡片（卡片丢失或被刷走时）", usage="例：卡片 活动 3 / 卡片 学习 2")
def resend_card(ctx: Context, args: str) -> None:
    """Re-send item N's current card; the domain checks access exactly as for its buttons."""
    text = args.strip()
    noun = next((n for n in _nouns(ctx) if text.startswith(n)), "")
    number, _rest, typed = split_item_number(text[len(noun):])
    kinds = "、".join(f"卡片 {n} 编号" for n in sorted(ctx.registry.card_sources))
    if not typed:
        ctx.reply(f"请写上是哪一项，例如：{kinds}。发送“待办”查看编号。")
        return
    if not noun:
        mine: list[PendingItem] = [i for i in collect(ctx) if i.number == number and i.noun in ctx.registry.card_sources] \
            if number is not None and _has_duties(ctx) else []
        found = sorted({i.noun for i in mine}) or [n for n in [ctx.registry.default_card_noun] if n]
        if len(found) != 1:
            ctx.reply(f"请写明是哪一类：{kinds}（把“编号”换成 {typed[:12]}）。")
            return
        noun = found[0]
    if number is None:
        ctx.reply(not_found(noun, typed))
        return
    card = ctx.registry.card_sources[noun](ctx, number)
    if card is not None:
        ctx.reply(card)
