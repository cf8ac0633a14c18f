"""学习 / learn: publish learning materials to an audience, open them, mark them studied.

- `发布学习` (secretary: own branch; committee: subtree) asks step by step: title, category
  (两学一做, 党史, 业务, 安全 …), content or link, deadline, audience, and confirms "将发送给 N 人";
  `发布学习 标题 | 内容或链接 [| 受众单位] [| 类别:党史] [| 截止:12-05]` publishes at once. The card
  goes to everybody in the audience through the outbox (≤ 1,000 recipients per outbox row).
- `学习` lists my materials (not yet studied first) with their number; `学习 N` or the card's
  「打开学习」 button opens one (records the first opening and shows the text); `学完 N [心得 …]` or
  the 「已学习」 button records that I studied it (with a reflection of at most 500 characters).
- `学习情况 N` shows one material's completion per unit, `学习心得 N` its reflections (publisher,
  secretaries and committee). Those who have not studied a material with a deadline are reminded
  in their daily digest before it (handlers.digest.service).
"""
from __future__ import annotations

from bot.router import Router

from . import actions, commands, forms, pending

__all__ = ["router"]

router = Router("learning").include(commands.router, actions.router, forms.router, pending.router)
