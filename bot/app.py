"""Flask application around built services: platform blueprints, the simulator, health and metrics."""
from __future__ import annotations

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from models.outbox import OutboxMessage

from .config import Config
from .metrics import Metrics
from .services import Services

__all__ = ["make_app", "services_of"]


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
    def healthz():
        return jsonify(status="ok")

    @app.get("/metrics")
    def metrics_view():
        with services.session_factory() as db:
            for status, n in db.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)):
                metrics.outbox_backlog.labels(status).set(n)
            _relay_gauges(db, services, metrics)
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.after_request
    def count(resp):
        from flask import request
        metrics.requests.labels(request.endpoint or "none", str(resp.status_code)).inc()
        return resp

    return app


def _relay_gauges(db, services: Services, metrics: Metrics) -> None:
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
    return app.extensions["lianxin"]
