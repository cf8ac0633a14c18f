"""Parsing decrypted WeCom messages into the internal model (incl. template_card_event)."""
from __future__ import annotations

from bot.adapters.wecom import _safe_parse, delivery_key, parse_incoming
from tests.payloads import wecom_sample, wecom_xml

# the official template_card_event sample (path/90240), as documented
CARD_EVENT = wecom_sample("template_card_event")


def test_template_card_event_becomes_a_card_action():
    inc = parse_incoming(_safe_parse(CARD_EVENT))
    assert inc.platform == "wecom" and inc.user_id == "FromUser"
    assert inc.action == "key111" and inc.card_id == "taskid111" and inc.response_code == "ResponseCode"
    assert inc.text is None and inc.time.timestamp() == 123456789


def test_event_delivery_key_includes_event_key_and_task():
    a = _safe_parse(CARD_EVENT)
    b = dict(a, EventKey="key222")
    assert delivery_key(a) != delivery_key(b)          # two clicks in the same second are both handled
    assert delivery_key(a) == delivery_key(dict(a))    # a retried delivery maps to the same key


def test_menu_click_is_typed_text_and_other_events_are_ignored_and_unreadable_messages_marked():
    click = _safe_parse(wecom_xml("click", FromUserName="u1", EventKey="待办"))
    assert parse_incoming(click).text == "待办"
    enter = _safe_parse(wecom_sample("enter_agent"))
    assert parse_incoming(enter) is None
    image = _safe_parse(wecom_xml("image", FromUserName="u1", MediaId="MEDIA_1"))
    assert (parse_incoming(image).unsupported, parse_incoming(image).media_id) == ("image", "MEDIA_1")
