"""Scheduled jobs (APScheduler 3.x) that fire once per occurrence, whatever the number of instances.

- registry.py: job ids → "module:function" targets; trigger strings from config.yaml scheduler.jobs
- runner.py: leader lock + persistent SQLAlchemy job store + per-occurrence claim (models.jobrun)
- leader.py: PostgreSQL advisory lock / Redis lease
- jobs/: talk reminders, weekly digest, outbox relay (cases and activities keep their own jobs)
- embedded.py: the same, inside `lianxin demo`
Commands: `lianxin scheduler`, `lianxin jobs`, `lianxin run-job NAME`, `lianxin dispatch`.
"""
