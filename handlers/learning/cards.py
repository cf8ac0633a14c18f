"""The learning material card and its buttons (打开学习 / 已学习)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from bot.callbacks import CallbackData
from bot.messages import Button, Card
from models.learning import Material

__all__ = ["LearnData", "material_card"]


@dataclass(frozen=True)
class LearnData(CallbackData):
    prefix = "lrn"
    choices = {"op": ("open", "done")}
    id: int
    op: str


def material_card(m: Material, *, studied: bool = False, tz: tzinfo | None = None) -> Card:
    preview = m.text if len(m.text) <= 120 else m.text[:120] + "…"
    fields = [("类别", m.category or "其他"), ("发布人", m.publisher.name if m.publisher else "—"),
              ("面向", m.audience_unit.name)]
    if m.deadline is not None:
        fields.append(("截止", f"{m.deadline.astimezone(tz) if tz else m.deadline:%m-%d %H:%M}"))
    if m.file_ref:
        fields.append(("附件", m.file_ref))
    buttons = (Button("打开学习", LearnData(m.id, "open").pack()), Button("已学习", LearnData(m.id, "done").pack(), 2))
    return Card(title=f"学习材料：{m.title}", body=preview, fields=tuple(fields), buttons=buttons,
                card_id=f"learn-{m.id}", url=m.link, done_text="已学习 ✓" if studied else None)
