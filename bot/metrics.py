"""Prometheus metrics (prometheus-client), one registry per app so tests can build many apps."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("lianxin_requests_total", "HTTP requests", ["endpoint", "status"], registry=r)
        self.handler_latency = Histogram("lianxin_handler_seconds", "Time to handle one inbound event",
                                         registry=r, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
        self.dedupe_hits = Counter("lianxin_dedupe_hits_total", "Duplicate deliveries dropped", ["platform"],
                                   registry=r)
        self.rejected = Counter("lianxin_callbacks_rejected_total", "Callbacks refused", ["platform", "reason"],
                                registry=r)
        self.outbox_sent = Counter("lianxin_outbox_sent_total", "Outbox rows sent", ["platform"], registry=r)
        self.outbox_failures = Counter("lianxin_outbox_failures_total", "Outbox send failures", ["platform"],
                                       registry=r)
        self.outbox_paced = Counter("lianxin_outbox_paced_total", "Rows held back for the recipient's send limit",
                                    ["platform"], registry=r)
        self.outbox_backlog = Gauge("lianxin_outbox_backlog", "Outbox rows by status", ["status"], registry=r)
        self.outbox_pending = Gauge("lianxin_outbox_pending", "Pending outbox rows by priority", ["priority"],
                                    registry=r)
        self.outbox_breaker = Gauge("lianxin_outbox_breaker_state",
                                    "Circuit breaker per platform: 0 closed, 1 half-open (probing), 2 open",
                                    ["platform"], registry=r)
        self.job_runs = Counter("lianxin_job_runs_total", "Scheduler job runs", ["job", "outcome"], registry=r)
