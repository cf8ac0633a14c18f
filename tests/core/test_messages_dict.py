"""An outbox payload holds every field of a card: reply_to_dict (written out for speed) stays equal to
what dataclasses.asdict gives, and reply_from_dict brings the same card back."""
from __future__ import annotations

import json
from dataclasses import asdict

from bot.messages import Button, Card, Text, reply_from_dict, reply_to_dict


def _card() -> Card:
    return Card(title="活动报名", body="第一行\n第二行", fields=(("时间", "周六"), ("地点", "机库")),
                buttons=(Button("报名", "act:1:join"), Button("取消", "act:1:leave", style=2)),
                card_id="act1_bench_0", done_text="已报名", url="https://example.invalid/a/1")


def test_a_card_payload_has_every_field_asdict_has():
    card = _card()
    expected = asdict(card) | {"type": "card", "fields": [list(f) for f in card.fields]}
    assert reply_to_dict(card) == expected
    assert json.dumps(reply_to_dict(card), ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_a_card_and_a_text_come_back_from_their_payload():
    card = _card()
    assert reply_from_dict(json.loads(json.dumps(reply_to_dict(card)))) == card
    assert reply_from_dict(reply_to_dict(Text("好的"))) == Text("好的")
