"""The floor: what one WeCom callback costs before any business logic, in-process, per message.

    python bench/bench_floor.py

Measures (best of 7 repeats, µs per message) lianxin's own path — bot.adapters.wecom
WeComCrypto.decrypt_callback (size/DOCTYPE check, timestamp window, outer parse, constant-time
signature check, AES decrypt, inner parse) + parse_incoming — against wechatpy's
decrypt_message + parse_message (what the echo bot does), and the passive-reply encryption.
RELIABILITY.md §6.1 measured ~85 µs for decrypt + verify + parse with wechatpy on this kind of host.
"""
from __future__ import annotations

import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import AES_KEY, CORP_ID, TOKEN, emit, make_payloads


def best_us(fn, number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> int:
    from wechatpy.enterprise import parse_message
    from wechatpy.enterprise.crypto import WeChatCrypto

    from bot.adapters.wecom import WeComCrypto, parse_incoming, text_reply_xml

    ours = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    theirs = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    p = make_payloads(1, [("zhangsan", "我的信息：请问本季度的谈心谈话什么时候安排？")])[0]
    q = dict(part.split("=", 1) for part in p.path.split("?", 1)[1].split("&"))
    sig, ts, nonce = q["msg_signature"], q["timestamp"], q["nonce"]
    now = time.time()

    def lianxin_in():
        parse_incoming(ours.decrypt_callback(p.body, sig, ts, nonce, now=now))

    def wechatpy_in():
        parse_message(theirs.decrypt_message(p.body, sig, ts, nonce))

    reply = text_reply_xml("zhangsan", CORP_ID, "姓名：张三\n所在单位：技术公司党委/浦东基地党总支/外航维修党支部/四车间班组")

    def lianxin_out():
        ours.encrypt_reply(text_reply_xml("zhangsan", CORP_ID, "姓名：张三", 1700000000), nonce, ts)

    n = 2000
    a = best_us(lianxin_in, n)
    b = best_us(wechatpy_in, n)
    c = best_us(lianxin_out, n)
    d = best_us(lambda: ours.encrypt_reply(reply, nonce, ts), n)
    print(f"lianxin decrypt+verify+parse: {a:.1f} µs; wechatpy decrypt_message+parse_message: {b:.1f} µs; "
          f"reply render+encrypt: {c:.1f} µs (encrypt only {d:.1f} µs)")
    emit("floor.lianxin_in", a, "us/msg", "-", None)
    emit("floor.wechatpy_in", b, "us/msg", "-", None)
    emit("floor.reply_out", c, "us/msg", "-", None)
    emit("floor.round_trip", a + c, "us/msg", "-", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
