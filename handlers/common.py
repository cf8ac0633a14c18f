"""帮助 / help (only the commands this user may run) and the fallback for unknown input."""
from __future__ import annotations

from bot.context import Context
from bot.router import Router

router = Router("common")


def help_text(ctx: Context) -> str:
    lines = ["连心 · 可用命令（中文或英文均可）："]
    for cmd in ctx.registry.commands:
        if cmd.allowed is not None and not cmd.allowed(ctx):
            continue
        usage = f"  {cmd.usage}" if cmd.usage else ""
        lines.append(f"· {cmd.title} — {cmd.help}{usage}")
    lines.append("对话中随时可回复“返回”上一步、“取消”退出。")
    return "\n".join(lines)


@router.command("帮助", "help", "菜单", "menu", help="查看我能用的命令")
def show_help(ctx: Context, args: str) -> None:
    """List the commands the sender's roles allow."""
    ctx.reply(help_text(ctx))


@router.fallback
def unknown(ctx: Context, text: str) -> None:
    """Answer anything unrecognised with a short hint, never silence."""
    if not text:
        ctx.reply("收到。发送“帮助”查看可用命令。")
        return
    ctx.reply(f"没有听懂“{text[:20]}”。发送“帮助”查看可用命令。")
