"""Flask application around built services: platform blueprints, the simulator, health and metrics."""
from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.outbox import OutboxMessage, OutboxStatus

from .config import Config
from .metrics import Metrics
from .services import Services

__all__ = ["make_app", "services_of"]

PRIVATE_NETS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")   # RFC 1918, RFC 4193
OUTBOX_STATUSES = (OutboxStatus.PENDING, OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.MERGED)


def make_app(config: Config, services: Services) -> Flask:
    """`config` decides which blueprints are served (tests pass overrides); `services` does the work."""
    metrics = services.metrics or Metrics()
    services.metrics = metrics
    services.dispatcher.metrics = metrics
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config["MAX_CONTENT_LENGTH"] = config.get("server.max_body_bytes", int)
    app.config["SECRET_KEY"] = _secret_key(config)
    app.extensions["lianxin"] = services

    from .web.wecom import bp as wecom_bp
    app.register_blueprint(wecom_bp)
    dingtalk_bp: Blueprint | None
    dashboard_bp: Blueprint | None
    try:
        from .web.dingtalk import bp as dingtalk_bp  # added with the DingTalk adapter
    except ImportError:
        dingtalk_bp = None
    if dingtalk_bp is not None and config.get("dingtalk.enabled", bool):
        app.register_blueprint(dingtalk_bp)
    if config.get("server.simulator", bool):
        from .web.sim import bp as sim_bp
        app.register_blueprint(sim_bp)
    try:
        from .web.dashboard import bp as dashboard_bp  # added with the dashboard
    except ImportError:
        dashboard_bp = None
    if dashboard_bp is not None:
        app.register_blueprint(dashboard_bp)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/metrics")
    def metrics_view() -> Response:
        if not _metrics_allowed(config):
            return Response("Not Found", status=404, mimetype="text/plain")
        with services.session_factory() as db:
            counts = dict(db.execute(select(OutboxMessage.status, func.count())
                                     .group_by(OutboxMessage.status)).all())
            # every status, 0 included: a gauge that is only set when rows exist keeps the last backlog
            for status in (*OUTBOX_STATUSES, *counts):
                metrics.outbox_backlog.labels(status).set(counts.get(status, 0))
            _relay_gauges(db, services, metrics)
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.after_request
    def count(resp: Response) -> Response:
        from flask import request
        metrics.requests.labels(request.endpoint or "none", str(resp.status_code)).inc()
        return resp

    return app


def _metrics_allowed(config: Config) -> bool:
    """/metrics shares the webhook port, which faces the internet: with `server.metrics_token` set,
    only `Authorization: Bearer <token>` (Prometheus' bearer_token) is served; without one, only a
    scraper on this host or the private network, never a request relayed by a proxy."""
    import hmac
    from ipaddress import ip_address, ip_network

    from flask import request

    token = config.get("server.metrics_token", str)
    if token:
        return hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode())
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded") or request.headers.get("X-Real-IP"):
        return False
    try:
        addr = ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return addr.is_loopback or any(addr in ip_network(net) for net in PRIVATE_NETS if ip_network(net).version == addr.version)


def _relay_gauges(db: Session, services: Services, metrics: Metrics) -> None:
    """Pending rows by priority, and each platform's circuit breaker as the relays last published it."""
    from .breaker import CLOSED, STATE_VALUE, breaker_key
    from .outbox import Priority

    pending = dict(db.execute(select(OutboxMessage.priority, func.count())
                              .where(OutboxMessage.status == "pending").group_by(OutboxMessage.priority)).all())
    for value, name in Priority.NAMES.items():
        metrics.outbox_pending.labels(name).set(pending.get(value, 0))
    for platform in services.senders:
        try:
            state = services.redis.get(breaker_key(platform))
        except Exception:
            state = None
        state = state.decode() if isinstance(state, bytes) else (state or CLOSED)
        metrics.outbox_breaker.labels(platform).set(STATE_VALUE.get(state, 0))


def _secret_key(config: Config) -> str:
    import os
    import secrets

    env_name = config.get("security.dashboard_secret_env", str)
    return os.environ.get(env_name) or secrets.token_hex(32)


def services_of(app: Flask) -> Services:
    services: Services = app.extensions["lianxin"]
    return services
