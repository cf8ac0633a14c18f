"""/metrics exposes what the issue lists: requests, handler latency, outbox backlog and failures,
dedupe hits, job runs (prometheus text format, parsed back with prometheus_client)."""
from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from bot.adapters.simulator import SimulatorSender, sim_incoming
from bot.outbox import TransientError
from bot.relay import OutboxRelay
from models.base import utcnow


def _scrape(client) -> dict[tuple[str, tuple], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        out[("family", (("name", family.name), ("type", family.type)))] = 1
    return out


class Failing:
    def send(self, recipients, reply, row):
        raise TransientError("platform down")

    update_card = send


def test_metrics_exposed_and_counting(services, client):
    client.get("/healthz")
    # one handled message, then the same delivery again (deduplicated)
    incoming = sim_incoming("liqiang", text="发布学习 党章 | 第一章")
    services.dispatcher.handle(incoming)
    assert services.dispatcher.handle(incoming).duplicate
    services.dispatcher.handle(sim_incoming("liqiang", text="确认发布"))     # a push is confirmed first
    m = _scrape(client)
    assert m[("lianxin_requests_total", (("endpoint", "healthz"), ("status", "200")))] == 1
    assert m[("lianxin_handler_seconds_count", ())] == 2
    assert m[("lianxin_dedupe_hits_total", (("platform", "sim"),))] == 1
    assert m[("lianxin_outbox_backlog", (("status", "pending"),))] == 1      # the card to 14 people, one row
    # a failing platform: the failure is counted and the row stays pending
    OutboxRelay(services.session_factory, {"sim": Failing()}, metrics=services.metrics, backoff_base=0.01).run_once()
    m = _scrape(client)
    assert m[("lianxin_outbox_failures_total", (("platform", "sim"),))] == 1
    assert m[("lianxin_outbox_backlog", (("status", "pending"),))] == 1
    # the platform is back: the row is sent and the pending backlog reads 0, not the last value seen
    later = utcnow() + timedelta(minutes=1)                 # past the failed attempt's backoff, whatever the load
    OutboxRelay(services.session_factory, {"sim": SimulatorSender(services.redis)}).drain(now=later)
    m = _scrape(client)
    assert m[("lianxin_outbox_backlog", (("status", "pending"),))] == 0
    assert m[("lianxin_outbox_backlog", (("status", "sent"),))] == 1
    assert m[("family", (("name", "lianxin_job_runs"), ("type", "counter")))] == 1
    services.metrics.job_runs.labels("weekly_digest", "ok").inc()
    assert _scrape(client)[("lianxin_job_runs_total", (("job", "weekly_digest"), ("outcome", "ok")))] == 1
    # requests to /metrics itself are counted too
    assert _scrape(client)[("lianxin_requests_total", (("endpoint", "metrics_view"), ("status", "200")))] >= 3


def test_metrics_are_not_served_to_the_internet(services, client):
    """The webhook port faces the internet: a public address, or anything relayed by a proxy, gets 404."""
    assert client.get("/metrics").status_code == 200                                   # this host
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200   # the scraper's LAN
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "1.2.3.4"}).status_code == 404
    assert client.get("/metrics", headers={"X-Forwarded-For": "1.2.3.4"}).status_code == 404


def test_metrics_token_is_required_once_set(services):
    from bot.app import make_app

    config = services.config.with_overrides({"server.metrics_token": "s3cret-scrape"})
    client = make_app(config, services).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    page = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape", "X-Forwarded-For": "203.0.113.5"})
    assert page.status_code == 200 and b"lianxin_" in page.data
