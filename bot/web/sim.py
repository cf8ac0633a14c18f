"""/sim: a web page where anyone picks a demo user, chats and clicks card buttons.

It drives the same dispatcher as WeCom (platform "sim"), so everything shown here is what a
phone user would get; messages sent to other people arrive in their simulator inbox via the
outbox, exactly as they would arrive in WeCom.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from models.enums import ROLE_LABELS
from models.org import Person

from ..adapters.simulator import read_inbox, sim_incoming
from ..dispatcher import ERROR_TEXT
from ..messages import reply_to_dict

if TYPE_CHECKING:
    from ..services import Services

bp = Blueprint("sim", __name__)


def _services() -> Services:
    services: Services = current_app.extensions["lianxin"]
    return services


_LABELS: dict[str, str] = {str(k): v for k, v in ROLE_LABELS.items()}   # role code → Chinese

@bp.get("/sim")
def page() -> ResponseReturnValue:
    return render_template("sim.html")


@bp.get("/sim/api/users")
def users() -> ResponseReturnValue:
    with _services().session_factory() as db:
        people = db.scalars(select(Person).where(Person.active.is_(True), Person.wecom_userid.is_not(None))
                            .order_by(Person.id).limit(500)).all()
        out = []
        for p in people:
            roles = sorted({_LABELS.get(r.role, "其他职务") for r in p.roles})   # shown to people: Chinese
            out.append({"id": p.wecom_userid, "name": p.name, "unit": p.unit.name if p.unit else "",
                        "roles": roles, "party": p.is_party_member})
    return jsonify(out)


@bp.post("/sim/api/send")
def send() -> ResponseReturnValue:
    data = request.get_json(silent=True) or {}
    user = str(data.get("user") or "")
    text = data.get("text")
    action = data.get("action")
    if not user or not (isinstance(text, str) or isinstance(action, str)):
        return jsonify(error="需要 user 与 text 或 action"), 400
    if isinstance(text, str) and len(text) > 10000:
        return jsonify(error="消息太长"), 400
    services = _services()
    incoming = sim_incoming(user, text=text if isinstance(text, str) else None,
                            action=action if isinstance(action, str) else None, card_id=data.get("card_id"))
    try:
        outcome = services.dispatcher.handle(incoming)
    except Exception:
        current_app.logger.exception("sim.handler_failed")
        return jsonify(replies=[{"type": "text", "text": ERROR_TEXT}], updates=[])
    dispatcher = services.inline_outbox
    if dispatcher is not None:
        dispatcher.drain()
    return jsonify(replies=[reply_to_dict(r) for r in outcome.replies],
                   updates=[reply_to_dict(c) for c in outcome.card_updates])


@bp.get("/sim/files/<token>")
def download(token: str) -> ResponseReturnValue:
    """A file sent to a simulator user (an export) as a download — the simulator's stand-in for
    WeCom's file message: only a token that is in that user's inbox, only until it is purged."""
    from io import BytesIO

    from ..files import FileStore, mime_type

    services = _services()
    user = request.args.get("user", "")
    sent = bool(user) and any(item.get("reply", {}).get("type") == "file" and item["reply"].get("token") == token
                              for item in read_inbox(services.redis, user))
    stored = FileStore(services.session_factory).load(token, now=services.clock.now()) if sent else None
    if stored is None:
        return Response("文件不存在或已过期，请在聊天中重新发送导出命令。", status=404,
                        mimetype="text/plain; charset=utf-8")
    name, content = stored
    return send_file(BytesIO(content), mimetype=mime_type(name), as_attachment=True, download_name=name)


@bp.get("/sim/api/inbox")
def inbox() -> ResponseReturnValue:
    user = request.args.get("user", "")
    start = request.args.get("since", 0, type=int)
    items = read_inbox(_services().redis, user, start)
    return jsonify(items=items, next=start + len(items))
