"""学习 / learn: publish learning materials to an audience, open them, mark them studied.

- `发布学习 标题 | 内容或链接 [| 受众单位]` (secretary: own branch; committee: subtree) pushes a card
  to everybody in the audience through the outbox (≤ 1,000 recipients per outbox row).
- `学习` lists my materials (not yet studied first) with their number; `学习 N` or the card's
  「打开学习」 button opens one (records the first opening and shows the text); `学完 N` or the
  「已学习」 button records that I studied it.
- `学习情况 N` shows one material's completion per unit (publisher, secretaries and committee).
"""
from __future__ import annotations

from bot.router import Router

from . import actions, commands, pending

__all__ = ["router"]

router = Router("learning").include(commands.router, actions.router, pending.router)
