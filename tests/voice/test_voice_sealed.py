"""An anonymous 心声 names nobody: not in chat, the dashboard, an export, a log line, an audit row
or a decryptable column; and only the reply delivery ever opens the seal (no query path)."""
from __future__ import annotations

import ast
import logging
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from sqlalchemy import select, text

from bot.messages import Card, Text
from bot.web.dashboard import login_link
from models.audit import AuditEvent
from models.crypto import current_cipher
from models.db import session_scope
from models.org import Person
from models.voice import Voice, VoiceSeal
from tests.helpers import person_id

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET_TEXT = "车间主任克扣加班费"


def _all_text(replies) -> str:
    return "\n".join(r.text if isinstance(r, Text) else r.as_text() for r in replies)


def test_no_chat_dashboard_export_log_or_column_names_the_anonymous_sender(sim, services, client, caplog):
    caplog.set_level(logging.DEBUG)
    with session_scope(services.session_factory) as db:
        sender = db.scalars(select(Person).where(Person.wecom_userid == "zhangsan")).one()
        sender_id = str(sender.id)
    out = sim.say("zhangsan", f"心声 匿名 {SECRET_TEXT}")
    assert "已匿名提交" in out.text
    seen = [_all_text(sim.inbox("liqiang"))]
    voice_id = seen[0].split("#", 1)[1].split("】", 1)[0]
    for words in ("心声列表", f"回复心声 {voice_id} 已转纪委核实", "待办", "统计", f"办结心声 {voice_id} 已核实处理"):
        seen.append(sim.say("liqiang", words).text)
    seen.append(_all_text(sim.inbox("liqiang")) + _all_text(sim.inbox("wangwei")) + _all_text(sim.inbox("zhouli")))
    seen.append(sim.say("admin", "死信").text)
    for page in seen:
        assert "张三" not in page and "zhangsan" not in page, page
    assert "已转纪委核实" in _all_text(sim.inbox("zhangsan"))          # yet the reply reached the sender

    # dashboard and the Excel export never show a voice at all, so they cannot link one to anyone
    link = urlsplit(login_link(services.config, person_id(services, "liqiang")))
    client.get(f"{link.path}?{link.query}")
    assert SECRET_TEXT not in client.get("/dashboard").get_data(as_text=True)
    from reports.render.excel import build_workbook
    with session_scope(services.session_factory) as db:
        voice = db.get(Voice, int(voice_id))
        wb = build_workbook(db, voice.unit, "2026Q4", now=services.clock.now(), config=services.config)
        cells = [str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
        assert not any(SECRET_TEXT in c for c in cells)

        # the stored rows: no sender column, no audit row by the sender, a seal the notes keys cannot open
        assert voice.sender_id is None and voice.anonymous
        assert db.scalars(select(AuditEvent).where(AuditEvent.actor_id == sender.id)).all() == []
        seal = db.get(VoiceSeal, voice.id)
        try:
            current_cipher().decrypt(seal.token.encode())
            raise AssertionError("the seal opened with the notes keys")
        except InvalidToken:
            pass
        assert len(seal.sender_tag) == 64 and sender_id != seal.sender_tag
        raw = db.execute(text("SELECT * FROM voice")).mappings().one()
        assert SECRET_TEXT not in str(dict(raw))                      # the text is encrypted too

    for record in caplog.records:
        line = record.getMessage() + " " + repr(record.__dict__)
        assert "zhangsan" not in line and "张三" not in line and SECRET_TEXT not in line, line



def _readers(name: str) -> set[str]:
    """'file:function' of every function whose source mentions `name` (outside its own definition),
    in every module that can reach the seal at all (mentions models.seal or VoiceSeal)."""
    found = set()
    for path in list((ROOT / "handlers").rglob("*.py")) + list((ROOT / "models").rglob("*.py")) + \
            list((ROOT / "bot").rglob("*.py")) + list((ROOT / "scheduler").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "models.seal" not in source and "VoiceSeal" not in source and "from .seal" not in source:
            continue
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != name:
                for sub in ast.walk(node):
                    if (isinstance(sub, ast.Name) and sub.id == name) or \
                            (isinstance(sub, ast.Attribute) and sub.attr == name):
                        found.add(f"{path.relative_to(ROOT)}:{node.name}")
                        break
    return found


def test_only_the_reply_delivery_opens_the_seal():
    """No query path returns the sender: one function unseals, and it returns only a bool."""
    assert _readers("unseal") == {"handlers/voice/service.py:deliver_to_sender"}
    # the seal table: written when raised, counted by keyed tag for the rate limit, read to deliver
    assert _readers("VoiceSeal") == {"handlers/voice/service.py:raise_voice", "handlers/voice/service.py:recent_count",
                                     "handlers/voice/service.py:deliver_to_sender"}
    from handlers.voice.service import deliver_to_sender
    assert deliver_to_sender.__annotations__["return"] == "bool"


def test_a_seal_opens_only_for_its_own_voice_and_the_tag_needs_the_key():
    from models.crypto import generate_key
    from models.seal import configure_seal_keys, seal, sender_tag, unseal
    from tests.conftest import SEAL_KEY
    token = seal(7, 42)
    assert unseal(token, 7) == 42
    assert unseal(token, 8) is None and unseal("garbage", 7) is None
    tag = sender_tag(42)
    try:
        configure_seal_keys([generate_key()])
        assert sender_tag(42) != tag and unseal(token, 7) is None      # another key: no tag match, no opening
    finally:
        configure_seal_keys([SEAL_KEY])


def test_cards_to_the_secretary_carry_no_sender_key(sim, services):
    sim.say("zhangsan", "心声 匿名 某件事")
    card = next(c for c in sim.inbox("liqiang") if isinstance(c, Card))
    assert all(b.key.startswith("vc:") and b.key.count(":") == 2 for b in card.buttons)
