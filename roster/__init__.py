"""Roster import: a CSV/Excel file (or a platform's contacts) → units, people and roles (a use of the models, so not in models/).

Two phases, so that a dry run and a file with bad rows change nothing:

1. `roster.read.read_roster(path)` parses the file into `RosterRow`s (row numbers as in the
   spreadsheet: the header is row 1) and `roster.plan.plan_people(db, rows, ...)` validates every
   row against the file and the database (roster.check) and computes every change without
   writing anything → `ChangeReport` (+ a `Plan`).
2. `roster.apply.apply_plan(db, plan)` writes the changes with bulk Core statements in the
   caller's transaction.

`roster.apply.import_roster(db, path, dry_run=, skip_bad_rows=, full=)` does both. Rules:
- Idempotent: the same file twice → the second run reports 0 changes.
- People are keyed by their WeCom user id; changed rows update them (name, unit = move, phone,
  DingTalk id, Party membership); people absent from a *full* import are deactivated, never deleted.
- Roles listed in a row replace that person's roster roles; roles granted in chat (source "chat")
  are never revoked by an import.
- Any bad row → nothing changes (unless skip_bad_rows: bad rows are skipped and reported, and the
  people on them are left as they are, never deactivated).

Roles column syntax: items separated by ";" (also "；", ",", "，", "、"); each item is a role name,
optionally followed by "@" and the scope unit: `班组长;支部书记@技术公司党委/浦东基地党总支/外航维修党支部`.
Without "@" the scope is the person's own unit. The scope is a full unit path, or a unit name that
is unique among the units of the file and the database. Role names: 班组长 / 支部书记 / 党委委员 /
管理员, or team_leader / secretary / committee / admin (models.enums.ROLE_NAMES).
"""
