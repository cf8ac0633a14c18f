"""帮助 / help (only the commands this user may run) and the fallback for unknown input."""
from __future__ import annotations

from bot.context import Context
from bot.router import Command, Router

router = Router("common")


# router name → the topic heading shown in 帮助 (a short message a phone user can scan)
TOPICS = {
    "common": "基本", "org": "基本", "todo": "基本", "talks": "谈心谈话", "cases": "关爱帮扶", "activities": "活动",
    "learning": "学习", "stats": "统计", "admin": "管理", "admin_outbox": "管理", "voice": "心声", "digest": "基本",
    "sampling": "谈心谈话", "pulse": "关爱帮扶",
}


def _allowed(ctx: Context) -> list[Command]:
    """The commands the sender may run. `allowed` asks the policy with no target, which depends
    only on the sender's role assignments: memoised per set of (role, unit) on the registry,
    because 帮助 and the fallback hint are the most frequent messages and ~30 policy checks each."""
    person = ctx.person
    if person is None:
        return [c for c in ctx.registry.commands if c.allowed is None or c.allowed(ctx)]
    key = ("allowed", person.active, frozenset((r.role, r.unit_id) for r in person.roles))
    memo = ctx.registry.memo
    found = memo.get(key)
    if found is None:
        found = [c for c in ctx.registry.commands if c.allowed is None or c.allowed(ctx)]
        if len(memo) > 10_000:
            memo.clear()
        memo[key] = found
    return found


def help_text(ctx: Context) -> str:
    """One line per topic with the commands this sender may run; details via `帮助 命令`."""
    grouped: dict[str, list[str]] = {}
    for cmd in _allowed(ctx):
        grouped.setdefault(TOPICS.get(cmd.group, cmd.group), []).append(cmd.title)
    lines = ["连心 · 可用命令（中文或英文均可）："]
    lines += [f"【{topic}】" + " · ".join(titles) for topic, titles in grouped.items()]
    lines.append("发送“帮助 命令”看用法，例如：帮助 谈话。对话中随时可回复“返回”上一步、“取消”退出。")
    return "\n".join(lines)


def command_help(ctx: Context, word: str) -> str | None:
    """Usage of one command (or of every command of a topic) the sender may run."""
    word = word.strip().lstrip("/").lower()
    found = [c for c in _allowed(ctx)
             if word in (n.lower() for n in c.names) or TOPICS.get(c.group, c.group) == word]
    if not found:
        return None
    return "\n".join(f"· {c.title} — {c.help}" + (f"\n  {c.usage}" if c.usage else "") for c in found)


@router.command("帮助", "help", "菜单", "menu", help="查看我能用的命令", usage="帮助 [命令或主题]，例：帮助 活动",
                read_only=True)
def show_help(ctx: Context, args: str) -> None:
    """List the commands the sender's roles allow, or explain one of them."""
    if args:
        detail = command_help(ctx, args)
        ctx.reply(detail or f"没有您可用的“{args[:20]}”命令。\n" + help_text(ctx))
        return
    ctx.reply(help_text(ctx))


UNSUPPORTED = {"voice": "语音", "image": "图片", "video": "视频", "file": "文件", "location": "位置", "link": "链接"}


@router.fallback
def unknown(ctx: Context, text: str) -> None:
    """Answer anything unrecognised with a short hint, never silence."""
    if ctx.incoming.unsupported:
        ctx.reply(f"暂不支持{UNSUPPORTED.get(ctx.incoming.unsupported, '这类消息')}，请发送文字。")
        return
    if not text:
        ctx.reply("收到。发送“帮助”查看可用命令。")
        return
    ctx.reply(f"没有听懂“{text[:20]}”。发送“帮助”查看可用命令。")
