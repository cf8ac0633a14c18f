"""Webhook throughput and latency under gunicorn, against the real PostgreSQL and Redis, and the
same load against a bare wechatpy + Flask echo bot (the peer baseline) in the same run.

    python bench/bench_webhook.py                      # default: sync w2, sync w4, gthread w2t4
    python bench/bench_webhook.py --settings sync:2 --requests 2000

What one request is (lianxin): verify signature and timestamp, decrypt, parse, begin the turn (one
Redis script: dedupe claim, per-user lock, dialog state), look the sender up, route, record the
delivery if the turn wrote anything, commit, end the turn (one script), encrypt the passive reply. Two kinds of message:
  help  — `帮助` from the 30 demo users (a read-only command: one Redis round trip, no database)
  team  — `我的班组` from the 400 bench team leaders (a read-only command that reads the database)
  talk  — a one-line talk submission from team leaders (insert with an encrypted summary + audit);
          the real `谈话` command when it is registered, else bench/standin_talk.py
The load generator (asyncio + aiohttp, loopback, same 2 CPUs) sends pre-generated, unique,
correctly signed payloads: a fixed number in a closed loop (throughput, p50/p99), then a fixed
offered rate (default 200 req/s for 10 s; latency from the scheduled send time).
"""
from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    AES_KEY,
    CORP_ID,
    TOKEN,
    GunicornSettings,
    bench_database,
    bench_redis_db,
    closed_loop,
    emit,
    make_payloads,
    open_loop,
    run,
    servers_available,
    start_gunicorn,
)

TEXT_USERS = ["zhangsan", "lisi", "wangwu", "zhaoliu", "sunqi", "zhangsanfeng", "zhengyi", "fengxue", "chenchen",
              "weilan", "jiangtao", "yangfan", "zhuhong", "qinlei", "youlan", "xuming", "lvping", "shiyu",
              "zhangwei", "kongjie", "caoyu", "zhouli", "wugang", "hanmei", "hefei", "liqiang", "chenjing",
              "wangwei", "zhaomin", "admin"]
TEXT_PAIRS = [(u, "帮助" if i % 2 else "我的信息") for i, u in enumerate(TEXT_USERS)]
HELP_PAIRS = [(u, "帮助") for u in TEXT_USERS]
# team -> (a member's name to talk with)
TEAM_SUBJECT = {"四车间班组": "张三", "五车间班组": "郑毅", "部件一班组": "杨帆", "部件二班组": "吕萍"}
LEADERS_PER_TEAM = 100
TALK_TEXT = os.environ.get("LIANXIN_BENCH_TALK", "谈话 {subject} 季度 稳定 本季度聊了工作和家庭情况，第{i}次谈话")


def real_talks() -> bool:
    """True when the talks branch's one-line 谈话 (→ confirmation card → 保存 click) is registered."""
    import handlers

    match = handlers.build_registry().match_command("谈话 张三 季度 稳定 测试")
    return match is not None and match[0].handler.__module__.startswith("handlers.talks")


def talk_submissions(base: str, pairs, total: int, conc: int, redis_url: str, rate: float | None = None):
    """Submit `total` talks: with the real talks module, a one-line 谈话 (the answer is a confirmation
    card, sent through the outbox) then a 保存 click on that card, per leader; leaders work in rounds
    because each has one dialog at a time. Returns (one-liners, clicks, submissions, seconds)."""
    import json

    import redis

    lines, clicks = None, None
    r = redis.Redis.from_url(redis_url)
    done = 0
    two_step = real_talks()
    while done < total:
        batch = pairs[: min(len(pairs), total - done)]
        payloads = make_payloads(len(batch), batch)
        res = run(open_loop(base, payloads, rate) if rate else closed_loop(base, payloads, conc))
        lines = res if lines is None else lines.merge(res)
        if two_step:
            from handlers.talks.cards import TalkConfirm

            keys = []
            steps: dict = {}
            for user, _ in batch:
                raw = r.get(f"conv:wecom:{user}")
                state = json.loads(raw) if raw else {}
                steps[state.get("step", "none")] = steps.get(state.get("step", "none"), 0) + 1
                if state.get("step") == "confirm":
                    keys.append((user, TalkConfirm(state["form_id"], "save").pack()))
                elif state:
                    r.delete(f"conv:wecom:{user}")   # start the next round clean
            if len(keys) != len(batch):
                print(f"warning: {len(keys)} of {len(batch)} one-line talks reached the confirmation step "
                      f"(dialog steps: {steps}; answers: {lines.statuses})")
            if not keys:
                break
            cp = make_payloads(len(keys), keys, clicks=True)
            res = run(open_loop(base, cp, rate) if rate else closed_loop(base, cp, conc))
            clicks = res if clicks is None else clicks.merge(res)
        done += len(batch)
    seconds = lines.elapsed + (clicks.elapsed if clicks else 0)
    return lines, clicks, done, seconds


def seed_bench_leaders(db_url: str) -> list[tuple[str, str]]:
    """Add 10 extra team leaders per team (so concurrent talk submissions come from distinct users)."""
    from bot.cli.demo import TEAMS
    from models.db import make_engine, make_session_factory, session_scope
    from models.enums import Role
    from models.orgtree import add_person, ensure_unit_path, grant

    pairs = []
    engine = make_engine(db_url)
    with session_scope(make_session_factory(engine)) as db:
        cache: dict = {}
        for t, (team, branch) in enumerate(TEAMS.items()):
            unit = ensure_unit_path(db, f"{branch}/{team}", cache)
            for k in range(LEADERS_PER_TEAM):
                uid = f"benchlead{t}{k}"
                p = add_person(db, name=f"基准组长{t}{k}", unit=unit, wecom_userid=uid, party=True)
                grant(db, p, str(Role.TEAM_LEADER), unit)
                pairs.append((uid, TALK_TEXT.replace("{subject}", TEAM_SUBJECT[team])))
    engine.dispose()
    # interleave teams so that consecutive payloads come from different users
    return [pairs[(i % 4) * LEADERS_PER_TEAM + i // 4] for i in range(len(pairs))]


def sanity(base: str, payload, expect: str | None) -> str:
    """Send one payload, decrypt the passive reply, check it holds `expect`; return the reply text."""
    import xmltodict
    from wechatpy.enterprise.crypto import WeChatCrypto

    req = urllib.request.Request(base + payload.path, data=payload.body, headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    if not body:
        if expect:
            raise SystemExit(f"empty reply from {base} (expected {expect!r})")
        return ""
    doc = xmltodict.parse(body)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(body, doc["MsgSignature"], doc["TimeStamp"],
                                                                  doc["Nonce"])
    content = xmltodict.parse(plain)["xml"]["Content"]
    if expect and expect not in content:
        raise SystemExit(f"unexpected reply from {base}: {content!r} (expected {expect!r})")
    return content


def parse_settings(spec: str) -> list[GunicornSettings]:
    out = []
    for item in spec.split(","):
        kind, _, n = item.partition(":")
        if kind == "gthread":
            w, _, t = n.partition("x")
            out.append(GunicornSettings(int(w), int(t or 4), "gthread"))
        else:
            out.append(GunicornSettings(int(n or 2), 1, kind))
    return out


def fmt(r) -> str:
    bad = {k: v for k, v in r.statuses.items() if k != 200}
    return (f"{r.rps:7.0f} req/s  p50 {r.p(50):6.1f} ms  p99 {r.p(99):6.1f} ms  "
            f"ok {r.ok}/{r.sent}" + (f"  other {bad}" if bad else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", default="sync:2,sync:4,gthread:2x4",
                    help="gunicorn settings to compare: sync:N, gthread:WxT (comma-separated)")
    ap.add_argument("--requests", type=int, default=3000, help="requests per closed-loop run")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rate", type=float, default=200.0, help="offered rate for the latency run")
    ap.add_argument("--rate-seconds", type=float, default=10.0)
    args = ap.parse_args()

    if not servers_available():
        print("SKIP: PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379 are needed")
        return 3
    from models.crypto import generate_key

    n, conc = args.requests, args.concurrency
    if os.environ.get("LIANXIN_BENCH_QUICK"):
        n = min(n, 1000)
    settings = parse_settings(args.settings)
    two_step = real_talks()
    print(f"talk submission: {'one-line 谈话 + 保存 click (handlers.talks)' if two_step else 'stand-in (bench/standin_talk.py)'}")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with bench_database() as db_url, bench_redis_db() as redis_url:
        talk_pairs = seed_bench_leaders(db_url)
        team_pairs = [(u, "我的班组") for u, _ in talk_pairs]
        env = {"DATABASE_URL": db_url, "REDIS_URL": redis_url,
               "LIANXIN_NOTES_KEYS": generate_key(), "LIANXIN_SERVER__SIMULATOR": "false",
               "LIANXIN_DELIVERY__PLATFORMS": "wecom",
               # each bench leader sends ~10 messages within seconds (我的班组 ×5, then lines and clicks):
               # past inbound.max_turns (10 per 10 s) some would be refused as "too fast" (cheap answers
               # that write nothing). The window is still taken in every turn's begin script.
               "LIANXIN_INBOUND__MAX_TURNS": "100000",
               "LIANXIN_CONFIG": str(Path(__file__).resolve().parent.parent / "config.yaml")}
        rows = []
        written = 0       # answered turns that change the database (each records one processed_delivery row;
                          # read-only turns such as 帮助 / 我的信息 record none)
        submitted = 0     # talks that must be in the database
        for s in settings:
            srv = start_gunicorn("bench.lianxin_wsgi:app", s, env)
            try:
                sanity(srv.base, make_payloads(1, [("zhangsan", "我的信息")])[0], "张三")
                run(closed_loop(srv.base, make_payloads(300, TEXT_PAIRS), conc))  # warm-up
                text = run(closed_loop(srv.base, make_payloads(n, HELP_PAIRS), conc))
                team = run(closed_loop(srv.base, make_payloads(n, team_pairs), conc))
                lines, clicks, subs, secs = talk_submissions(srv.base, talk_pairs, n // 2, conc, redis_url)
                written += lines.ok + (clicks.ok if clicks else 0)   # a 谈话 line queues its card; 保存 stores it
                submitted += (clicks.ok if clicks else lines.ok)
            finally:
                srv.stop()
            echo_srv = start_gunicorn("bench.echo_bot:app", s, {})
            try:
                sanity(echo_srv.base, make_payloads(1, [("zhangsan", "我的信息")])[0], "echo: 我的信息")
                run(closed_loop(echo_srv.base, make_payloads(300, TEXT_PAIRS), conc))
                echo = run(closed_loop(echo_srv.base, make_payloads(n, HELP_PAIRS), conc))
            finally:
                echo_srv.stop()
            talk_rps = subs / secs
            rows.append((s, text, lines, clicks, talk_rps, echo, team))
            print(f"[{s.label}] lianxin 帮助     : {fmt(text)}")
            print(f"[{s.label}] lianxin 我的班组 : {fmt(team)}")
            print(f"[{s.label}] lianxin 谈话 line: {fmt(lines)}")
            if clicks:
                print(f"[{s.label}] lianxin 保存 click: {fmt(clicks)}")
            print(f"[{s.label}] talk submissions: {talk_rps:.0f} /s ({subs} in {secs:.1f} s)")
            print(f"[{s.label}] echo bot         : {fmt(echo)}")
            print(f"[{s.label}] ratio to echo: 帮助 {text.rps / echo.rps:.2f}, 我的班组 {team.rps / echo.rps:.2f}, "
                  f"谈话 line {lines.rps / echo.rps:.2f}" + (f", 保存 click {clicks.rps / echo.rps:.2f}" if clicks else "")
                  + f"; p99 to echo's: 帮助 {text.p(99) / echo.p(99):.2f}, 我的班组 {team.p(99) / echo.p(99):.2f}",
                  flush=True)

        best = max(rows, key=lambda r: r[1].rps)
        s, text, lines, clicks, talk_rps, echo, team = best
        srv = start_gunicorn("bench.lianxin_wsgi:app", s, env)
        try:
            m = int(args.rate * args.rate_seconds)
            if os.environ.get("LIANXIN_BENCH_QUICK"):
                m = min(m, 1000)
            run(closed_loop(srv.base, make_payloads(200, TEXT_PAIRS), conc))
            rate_text = run(open_loop(srv.base, make_payloads(m, HELP_PAIRS), args.rate))
            r_lines, r_clicks, _, _ = talk_submissions(srv.base, talk_pairs, m // 2, conc, redis_url, rate=args.rate)
            written += r_lines.ok + (r_clicks.ok if r_clicks else 0)
            submitted += (r_clicks.ok if r_clicks else r_lines.ok)
        finally:
            srv.stop()
        rate_talk = r_lines.merge(r_clicks) if r_clicks else r_lines
        print(f"[{s.label}] at {args.rate:.0f} req/s text: {fmt(rate_text)}")
        print(f"[{s.label}] at {args.rate:.0f} req/s talk (lines + clicks): {fmt(rate_talk)}")
        print(f"load average after: {os.getloadavg()[0]:.2f}")

        # correctness under load: every answered delivery is recorded once, every talk is stored
        from sqlalchemy import func, select

        from models.db import make_engine
        from models.outbox import ProcessedDelivery
        from models.talk import Talk

        engine = make_engine(db_url)
        with engine.connect() as conn:
            deliveries = conn.scalar(select(func.count()).select_from(ProcessedDelivery))
            talks = conn.scalar(select(func.count()).select_from(Talk))
        engine.dispose()
        print(f"check: processed_delivery rows {deliveries} = answered turns that wrote {written}; talk rows "
              f"{talks} = submitted {submitted}")
        consistent = deliveries == written and talks == submitted

    emit("webhook.settings", s.label.replace(" ", "_"), "", "-", None)
    emit("webhook.echo_rps", echo.rps, "req/s", "-", None)
    emit("webhook.echo_p99", echo.p(99), "ms", "-", None)
    for name, r, floor in (("help", text, 0.6), ("team", team, 0.6), ("talk_line", lines, 0.3),
                           ("talk_click", clicks, 0.3)):
        if r is None:
            continue
        emit(f"webhook.{name}_rps", r.rps, "req/s", "-", None)
        emit(f"webhook.{name}_p99", r.p(99), "ms", "-", None)
        ratio = r.rps / echo.rps
        emit(f"webhook.ratio_{name}", ratio, "x", f">={floor}", ratio >= floor and r.ok == r.sent)
        if floor == 0.6:   # read-only turns: latency too
            p99 = r.p(99) / echo.p(99)
            emit(f"webhook.p99_ratio_{name}", p99, "x", "<=2", p99 <= 2)
    emit("webhook.talk_submissions", talk_rps, "talks/s", "-", None)
    emit(f"webhook.p99_at_{args.rate:.0f}rps_text", rate_text.p(99), "ms", "<50",
         rate_text.p(99) < 50 and rate_text.ok == rate_text.sent)
    # talk lines + clicks at the same offered rate: informational (above this box's talk capacity)
    emit(f"webhook.p99_at_{args.rate:.0f}rps_talk", rate_talk.p(99), "ms", "-", None)
    emit("webhook.consistent", "yes" if consistent else "no", "", "yes", consistent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
