"""The peer baseline: a bare wechatpy + Flask WeCom bot that only verifies, decrypts and echoes.

No timestamp window, no dedupe, no database, no Redis: the least a WeCom callback can cost in
Python. bench_webhook.py runs it under the same gunicorn settings as lianxin and reports the
throughput ratio lianxin / echo.

    gunicorn -w 2 'bench.echo_bot:app'
"""
from __future__ import annotations

import os
import time

from flask import Flask, Response, request
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply

TOKEN = os.environ.get("ECHO_TOKEN", "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo")
AES_KEY = os.environ.get("ECHO_AES_KEY", "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt")
CORP_ID = os.environ.get("ECHO_CORP_ID", "ww1436e0e65a779aee")

app = Flask(__name__)
crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)


@app.get("/healthz")
def healthz():
    return "ok"


@app.post("/wecom/callback")
def callback():
    a = request.args
    try:
        plain = crypto.decrypt_message(request.get_data(), a.get("msg_signature", ""), a.get("timestamp", ""),
                                       a.get("nonce", ""))
    except (InvalidSignatureException, Exception):
        return Response("forbidden", status=403)
    msg = parse_message(plain)
    content = getattr(msg, "content", "") or ""
    reply = TextReply(content=f"echo: {content}", message=msg).render()
    return Response(crypto.encrypt_message(reply, a.get("nonce", ""), str(int(time.time()))),
                    mimetype="application/xml")
