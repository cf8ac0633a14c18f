"""The scheduled jobs: which code runs (declared here) and when (config.yaml `scheduler.jobs`).

Targets are importable "module:function" references (APScheduler persists them as text, and a
test imports every one). Each function takes a `scheduler.context.JobContext` and returns an int
(messages queued, rows handled). Times come from config, one string per job:

    cron:day=1,month=1/3,hour=9         APScheduler CronTrigger fields, in Asia/Shanghai
    cron:day_of_week=mon,tue,hour=8     a bare token continues the previous value ("mon,tue")
    interval:minutes=15                 weeks/days/hours/minutes/seconds, aligned to a fixed anchor
    off                                 disabled

Interval triggers are anchored at 2000-01-01 00:00 local time, not at the start of the process,
so every instance computes the same occurrences and the per-occurrence key can deduplicate them.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Config, ConfigError

__all__ = ["TARGETS", "UNGUARDED", "JobSpec", "find_spec", "job_specs", "parse_trigger", "resolve"]

# job id → target. The id is the key under `scheduler.jobs` in config.yaml.
TARGETS: dict[str, str] = {
    "talk_reminders": "scheduler.jobs.talk_reminders:quarter_start",
    "talk_reminders_mid": "scheduler.jobs.talk_reminders:mid_quarter",
    "talk_reminders_end": "scheduler.jobs.talk_reminders:quarter_end",
    "sla_escalation": "handlers.cases.jobs:sla_escalation",
    "activity_reminders": "handlers.activities.jobs:activity_reminders",
    "weekly_digest": "scheduler.jobs.digest:weekly_digest",
    "outbox_dispatch": "scheduler.jobs.outbox:dispatch",
    "voice_sla": "handlers.voice.jobs:voice_sla",
    "daily_digest": "handlers.digest.jobs:daily_digest",
    "pulse_alerts": "handlers.pulse.jobs:pulse_alerts",
    "active_days_flush": "scheduler.jobs.active_days:flush",
    "files_purge": "scheduler.jobs.files:purge",
}

# Jobs that need no per-occurrence key: they are safe to run concurrently by construction
# (the outbox dispatcher claims rows with a lease / SKIP LOCKED) and run every few seconds,
# so a job_run row per tick would be noise.
UNGUARDED: frozenset[str] = frozenset({"outbox_dispatch", "active_days_flush"})

CRON_FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")
INTERVAL_FIELDS = ("weeks", "days", "hours", "minutes", "seconds")
INTERVAL_ANCHOR = (2000, 1, 1)
OFF = ("", "off", "none", "disabled")


@dataclass(frozen=True)
class JobSpec:
    id: str
    target: str        # "module:function"
    trigger: str       # the config string, e.g. "cron:day=1,month=1/3,hour=9"
    guarded: bool = True

    def build_trigger(self, tz: str) -> BaseTrigger:
        return parse_trigger(self.trigger, tz, key=f"scheduler.jobs.{self.id}")

    def load(self) -> Callable:
        return resolve(self.target)


def resolve(target: str) -> Callable:
    """Import "module:function"; raises ImportError/AttributeError with the reference named."""
    module, _, name = target.partition(":")
    if not module or not name:
        raise ValueError(f"job target {target!r} is not of the form module:function")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise TypeError(f"job target {target!r} is not callable")
    return fn


def _fields(body: str, key: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    last: str | None = None
    for token in (t.strip() for t in body.split(",")):
        if not token:
            raise ConfigError(f"setting {key}: empty field in {body!r}")
        if "=" in token:
            name, _, value = token.partition("=")
            name, value = name.strip(), value.strip()
            if not name or not value:
                raise ConfigError(f"setting {key}: expected field=value, got {token!r}")
            if name in fields:
                raise ConfigError(f"setting {key}: field {name!r} given twice")
            fields[name] = value
            last = name
        elif last is None:
            raise ConfigError(f"setting {key}: expected field=value, got {token!r}")
        else:
            fields[last] += "," + token      # day_of_week=mon,tue
    return fields


def parse_trigger(spec: str, tz: str, *, key: str = "scheduler.jobs") -> BaseTrigger:
    """Parse one trigger string strictly; every error is a ConfigError naming `key`."""
    if not isinstance(spec, str):
        raise ConfigError(f"setting {key}: expected a trigger string like \"interval:minutes=15\", got {spec!r}")
    kind, sep, body = spec.strip().partition(":")
    kind = kind.strip().lower()
    if not sep or not body.strip():
        raise ConfigError(f"setting {key}: expected \"cron:field=value,...\" or \"interval:unit=N\", got {spec!r}")
    zone = ZoneInfo(tz)
    fields = _fields(body, key)
    if kind == "cron":
        unknown = sorted(set(fields) - set(CRON_FIELDS))
        if unknown:
            raise ConfigError(f"setting {key}: unknown cron field(s) {', '.join(unknown)} "
                              f"(allowed: {', '.join(CRON_FIELDS)})")
        try:
            return CronTrigger(timezone=zone, **fields)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"setting {key}: invalid cron trigger {spec!r}: {exc}") from None
    if kind == "interval":
        unknown = sorted(set(fields) - set(INTERVAL_FIELDS))
        if unknown:
            raise ConfigError(f"setting {key}: unknown interval unit(s) {', '.join(unknown)} "
                              f"(allowed: {', '.join(INTERVAL_FIELDS)})")
        amounts: dict[str, int] = {}
        for name, value in fields.items():
            try:
                amounts[name] = int(value)
            except ValueError:
                raise ConfigError(f"setting {key}: {name} must be a whole number, got {value!r}") from None
            if amounts[name] < 0:
                raise ConfigError(f"setting {key}: {name} must not be negative, got {value!r}")
        if not any(amounts.values()):
            raise ConfigError(f"setting {key}: interval must be longer than zero, got {spec!r}")
        anchor = datetime(*INTERVAL_ANCHOR, tzinfo=zone)
        return IntervalTrigger(timezone=zone, start_date=anchor, **amounts)
    raise ConfigError(f"setting {key}: unknown trigger kind {kind!r} (use cron: or interval:), got {spec!r}")


def job_specs(config: Config, *, validate: bool = True) -> list[JobSpec]:
    """The enabled jobs, in TARGETS order; unknown ids and bad trigger strings fail loudly."""
    configured = config.get("scheduler.jobs", dict)
    unknown = sorted(set(configured) - set(TARGETS))
    if unknown:
        raise ConfigError(f"setting scheduler.jobs.{unknown[0]}: unknown job (known jobs: {', '.join(TARGETS)})")
    specs = []
    for job_id, target in TARGETS.items():
        raw = configured.get(job_id)
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in OFF) or raw is False:
            continue
        spec = JobSpec(job_id, target, raw, guarded=job_id not in UNGUARDED)
        if validate:
            spec.build_trigger(config.timezone)
        specs.append(spec)
    return specs


def find_spec(config: Config, job_id: str) -> JobSpec:
    """A job by id (also a disabled one, so that `lianxin run-job` can run it by hand)."""
    if job_id not in TARGETS:
        raise ConfigError(f"unknown job {job_id!r} (known jobs: {', '.join(TARGETS)})")
    for spec in job_specs(config):
        if spec.id == job_id:
            return spec
    return JobSpec(job_id, TARGETS[job_id], "off", guarded=job_id not in UNGUARDED)
