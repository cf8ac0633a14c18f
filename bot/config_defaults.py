"""What a setting means when the config file leaves it out: the one table of defaults.

`Config.get(key, kind)` falls back to this table; a key that is neither in the file nor here is
required, and its absence is the one-line ConfigError naming it. config.yaml ships the same
values except where the shipped file deliberately says otherwise (see tests/core/test_config.py).
"""
from __future__ import annotations

from typing import Any

__all__ = ["DEFAULTS"]

DEFAULTS: dict[str, Any] = {
    "database.echo": False,
    "redis.url": "",                               # empty: in-process fakeredis
    "server.public_url": "",
    "server.max_body_bytes": 65536,
    "server.simulator": False,
    "server.metrics_token": "",                    # set (env LIANXIN_SERVER__METRICS_TOKEN): /metrics needs this bearer token
    "delivery.platforms": ["wecom"],
    # WeCom: corp_id, token, encoding_aes_key and agent_id are checked by Config.validate when enabled
    "wecom.enabled": False,
    "wecom.corp_id": "",
    "wecom.agent_id": 0,
    "wecom.secret": "",
    "wecom.api_base": "",                          # empty: the client's own (qyapi.weixin.qq.com)
    "wecom.timestamp_tolerance_seconds": 300,
    "wecom.http_timeout_seconds": 5.0,
    "dingtalk.enabled": False,
    "dingtalk.app_key": "",
    "dingtalk.app_secret": "",
    "dingtalk.robot_code": "",                     # empty: same as app_key
    "dingtalk.corp_id": "",                        # empty: accept any corpId
    "dingtalk.api_base": "https://api.dingtalk.com",
    "dingtalk.oapi_base": "https://oapi.dingtalk.com",
    "dingtalk.timestamp_tolerance_seconds": 300,           # DingTalk allows 1 h; a replayed pair is refused anyway
    "dingtalk.http_timeout_seconds": 5.0,
    "dingtalk.batch_size": 20,                     # robot batchSend takes at most 20 userIds
    "dingtalk.card_template_id": "",
    "dingtalk.card_callback_route_key": "lianxin",
    "dingtalk.session_webhook_hosts": ["oapi.dingtalk.com", "api.dingtalk.com"],
    "dingtalk.stream_mode": False,
    "dingtalk.sync_root_dept_id": 1,
    "dashboard.session_hours": 8.0,
    "exports.keep_hours": 24.0,                    # a file made by chat (导出…) is kept this long, then purged
    "exports.confidential": False,                 # WeCom: send exports as 保密消息 (watermark, no forwarding)
    "dashboard.wecom_oauth": False,
    "security.dedupe_ttl_seconds": 86400,
    "security.notes_keys_env": "LIANXIN_NOTES_KEYS",
    "security.dashboard_secret_env": "LIANXIN_SECRET_KEY",
    "security.login_link_ttl_seconds": 900,
    "conversation.ttl_seconds": 1800,
    "conversation.lock_timeout_seconds": 10,
    "views.ttl_seconds": 3600,                     # bot.views: a shared cached view (我的班组) kept in Redis this long
    "identity.max_age_seconds": 300.0,             # bot.identity: a cached sender is reloaded at least this often
    "identity.snapshot_interval_seconds": 30.0,    # bot.roster_snapshot: a worker rebuilds its roster snapshot at most this often
    "identity.snapshot_max_people": 50000,         # … and only for a roster this size or smaller (0: never)
    "activities.storm_window_ms": 4.0,             # handlers/activities/storm.py: how long a batch gathers clicks
    "talks.edit_window_hours": 48,
    "talks.summary_max_chars": 2000,
    "pulse.alert_flags": 3,                        # 共性问题: K flags of one category in a team …
    "pulse.alert_days": 30,                        # … within this many days
    "talks.late_after_days": 7,                    # entered later than this after the talk: 补录原因 asked
    "talks.quarter_grace_days": 15,                # a quarter takes talks this long after its end
    "sla.ack_urgent_hours": 4.0,
    "sla.ack_watch_hours": 48.0,
    "sla.approval_hours": 72.0,
    "sla.helper_assign_hours": 48.0,
    "sla.progress_hours": 168.0,
    "sla.escalate_after_reminder_hours": 24.0,
    # care requests: the approval chain, first matching rule wins (handlers/cases/chain.py)
    "care.approval_chain": [
        {"type": "condolence", "max_amount": 500, "levels": ["secretary"]},
        {"type": "hardship", "min_amount": 1, "levels": ["committee", "union"]},
        {"youth": True, "levels": ["youth"]},
        {"levels": ["committee"]},
    ],
    "outbox.max_attempts": 8,
    "outbox.batch_size": 50,
    "outbox.backoff_base_seconds": 2.0,
    "outbox.backoff_cap_seconds": 600.0,
    "outbox.claim_lease_seconds": 120,
    "outbox.poll_seconds": 2.0,
    "scheduler.jobs": {},
    "scheduler.leader": "auto",
    "scheduler.leader_ttl_seconds": 30.0,
    "scheduler.heartbeat_seconds": None,           # None: leader_ttl_seconds / 3
    "scheduler.standby_seconds": None,             # None: leader_ttl_seconds / 3
    "scheduler.misfire_grace_seconds": 86400,
    "scheduler.run_lease_seconds": 3600,
    "activities.reminder_hours": [24, 1],
    "quiet.hours": "21:00-08:00",                  # non-urgent messages wait out these hours
    "quiet.weekends": False,
    "quiet.holidays": [],
    "digest.learning_days": 14,
    "digest.learning_deadline_days": 3,
    "sampling.share": 0.1,                         # 抽查回访: share of saved talks sampled
    "sampling.units": {},
    "sampling.answer_days": 7,
    "voice.max_per_day": 3,
    "sla.voice_reply_hours": 48,
    "outbox.pool_size": 32,                        # concurrent sends per relay (bench/bench_relay.py)
    "outbox.coalesce_min": 5,                      # this many low-priority texts to one person become one
    "outbox.stop_deadline_seconds": 10.0,          # SIGTERM: finish in-flight sends within this
    "outbox.breaker_failures": 5,                  # timeouts/5xx within the window that open the breaker
    "outbox.breaker_window_seconds": 30.0,
    "outbox.breaker_cooldown_seconds": 3.0,
    "outbox.spread_window_seconds": 900.0,         # scheduled bulk sends spread over 15 min, off :00/:30
    "wecom.connect_timeout_seconds": 2.0,
    "wecom.pace_per_minute": 30,                   # WeCom drops beyond 30/member/minute, silently
    "wecom.pace_per_hour": 1000,
    "wecom.pace_slack_seconds": 5.0,
    "inbound.max_turns": 10,                       # turns per user per window, then one "太快了"
    "inbound.window_seconds": 10.0,
    "dingtalk.stream_watchdog_seconds": 180.0,     # Stream: reconnect when no frame came for this long
    "dingtalk.stream_max_in_flight": 8,
    "dingtalk.stream_max_pending": 64,
    "dingtalk.card_callback_tokens": [],           # accepted card-callback path secrets, newest first
}
