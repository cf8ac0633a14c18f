"""`lianxin chat --as USER`: the terminal simulator, through the same dispatcher as WeCom.

Cards print as text with numbered buttons; `!N` presses button N of the latest card.
Messages that other people's actions send to this user (via the outbox) are printed too.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import click

from ..adapters.simulator import read_inbox, sim_incoming
from ..config import Config
from ..messages import Card, File, Reply, reply_from_dict

__all__ = ["TerminalSession", "run_terminal_chat"]


class TerminalSession:
    def __init__(self, config: Config, user: str) -> None:
        from ..notes_keys import setup_notes_keys
        from .main import prepare_database
        from .wiring import build_services

        setup_notes_keys(config)
        engine, _ = prepare_database(config, seed=True)
        self.services = build_services(config, engine=engine)
        self.outbox = self.services.outbox_dispatcher()
        self.user = user
        self.last_card: Card | None = None
        self.seen = len(read_inbox(self.services.redis, user))

    def _show(self, reply: Reply, echo: Callable[[str], None]) -> None:
        if isinstance(reply, Card):
            if reply.buttons and not reply.done_text:
                self.last_card = reply
            echo(reply.as_text() + ("\n  （回复 !序号 点按钮）" if reply.buttons and not reply.done_text else ""))
        elif isinstance(reply, File):
            echo(reply.as_text() + "（在模拟器网页 /sim 中可下载）")
        else:
            echo(reply.text)

    def send(self, line: str, echo: Callable[[str], None] = click.echo) -> None:
        line = line.strip()
        if not line:
            return
        action = None
        if line.startswith("!") and line[1:].isdigit():
            n = int(line[1:])
            if not self.last_card or not 1 <= n <= len(self.last_card.buttons):
                echo("没有可点的按钮。")
                return
            action = self.last_card.buttons[n - 1].key
        incoming = sim_incoming(self.user, text=None if action else line, action=action,
                                card_id=self.last_card.card_id if action and self.last_card else None)
        outcome = self.services.dispatcher.handle(incoming)
        for reply in outcome.replies:
            self._show(reply, echo)
        for card in outcome.card_updates:
            echo("（卡片已更新）")
            self._show(card, echo)
        self.outbox.drain()
        for item in read_inbox(self.services.redis, self.user, self.seen):
            self.seen += 1
            self._show(reply_from_dict(item["reply"]), echo)


def run_terminal_chat(config: Config, user: str, messages: list[str]) -> None:
    session = TerminalSession(config, user)
    if messages:
        for m in messages:
            click.echo(f"> {m}")
            session.send(m)
        return
    click.echo(f"以 {user} 身份与连心对话。输入“帮助”开始，Ctrl-D 退出。")
    for line in sys.stdin:
        session.send(line)
