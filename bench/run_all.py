"""Run every benchmark and print one table: `python bench/run_all.py`.

Each script runs as its own subprocess (from the repository root, with this Python) and reports
figures as lines `BENCH name=value unit goal=... ok=yes|no|-` (see bench/_common.py). A script
that is not there yet is listed as "not available"; one that exits 3 was skipped (e.g. no
PostgreSQL); one that fails or times out is listed with its exit status and the tail of its output.

    python bench/run_all.py                 # everything
    python bench/run_all.py --only webhook floor
    python bench/run_all.py --quick         # sets LIANXIN_BENCH_QUICK=1 (scripts may do less)
    python bench/run_all.py -v              # also show each script's own output
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (key, script, what it measures, timeout seconds, extra arguments)
SCRIPTS = [
    ("floor", "bench_floor.py", "decrypt + verify + parse in-process", 120, []),
    ("webhook", "bench_webhook.py", "webhook under gunicorn vs echo bot", 1800, []),
    ("signup", "bench_signup_storm.py", "sign-up storm: 2,000 clicks, 50 seats (gunicorn, PostgreSQL)", 600,
     ["--db", "postgres", "--via", "gunicorn", "--workers", "2"]),
    ("reminders", "bench_reminders.py", "reminder computation at company scale", 900, []),
    ("import", "bench_import.py", "roster import", 600, []),
    ("coverage", "bench_coverage.py", "talk coverage queries", 900, []),
    ("dashboard", "bench_dashboard.py", "dashboard queries", 900, []),
]


# Adapters for scripts written before the BENCH convention: their own summary lines → figures.
def _row(name, value, unit, goal="-", ok=None):
    return {"name": name, "value": str(value), "unit": unit, "goal": goal,
            "ok": "-" if ok is None else ("yes" if ok else "no")}


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]+", "_", text.strip()).strip("_")[:40]


def _signup(out: str) -> list[dict]:
    for line in out.splitlines():
        if "confirmed=" in line and "total_s=" in line:
            kv = dict(part.split("=", 1) for part in line.split() if "=" in part)
            total, confirmed = float(kv["total_s"]), int(kv["confirmed"])
            return [_row("signup.total", total, "s", "<5", total < 5),
                    _row("signup.confirmed", confirmed, "seats", "=50", confirmed == 50),
                    _row("signup.p99", kv.get("p99_ms", "?"), "ms"),
                    _row("signup.clicks_per_s", kv.get("clicks_per_s", "?"), "clicks/s")]
    return []


def _reminders(out: str) -> list[dict]:
    rows = []
    for m in re.finditer(r"\[(\w+)\] compute_reminders: best ([\d.]+) s, median ([\d.]+) s", out):
        rows.append(_row(f"reminders.{m[1]}_compute", m[3], "s", "<1", float(m[3]) < 1))
    for m in re.finditer(r"\[(\w+)\] whole job.*?median ([\d.]+) s", out):
        rows.append(_row(f"reminders.{m[1]}_job", m[2], "s"))
    return rows


def _import(out: str) -> list[dict]:
    m = re.search(r"RESULT people=(\d+) first=([\d.]+)s reimport=([\d.]+)s", out)
    return [_row("import.first", m[2], f"s/{m[1]} people"), _row("import.reimport", m[3], "s")] if m else []


def _medians(prefix: str):
    pat = re.compile(r"^\s*(?P<label>.+?)\s+median\s+(?P<med>[\d.]+) ms(?:\s+p95\s+(?P<p95>[\d.]+) ms)?"
                     r"\s+max\s+(?P<max>[\d.]+) ms")

    header = re.compile(r"^(?P<scope>[^\s:][^:]{0,40}): .*rows per")

    def parse_(out: str) -> list[dict]:
        rows = []
        scope = ""
        for line in out.splitlines():
            h = header.match(line)
            if h:
                scope = _slug(h["scope"]) + "."
                continue
            m = pat.match(line)
            if not m:
                continue
            value = m["p95"] or m["max"]
            g = re.search(r"\(goal < ([\d.]+) ms\)", line)
            v = re.search(r"\b(OK|OVER GOAL)\b", line)
            goal = f"<{g[1]}" if g else "-"
            ok = None if not v else v[1] == "OK"
            rows.append(_row(f"{prefix}.{scope}{_slug(m['label'])}", value, "ms p95" if m["p95"] else "ms max", goal, ok))
        return rows
    return parse_


ADAPTERS = {"signup": _signup, "reminders": _reminders, "import": _import,
            "coverage": _medians("coverage"), "dashboard": _medians("dashboard")}

LINE = re.compile(r"^BENCH\s+(?P<name>[^=\s]+)=(?P<value>\S*)\s*(?P<unit>.*?)\s+goal=(?P<goal>\S*)\s+ok=(?P<ok>\S+)\s*$")


def parse(output: str) -> list[dict]:
    rows = []
    for line in output.splitlines():
        m = LINE.match(line.strip())
        if m:
            rows.append(m.groupdict())
    return rows


def run_script(key: str, script: Path, timeout: int, env: dict, verbose: bool,
               extra: list[str]) -> tuple[str, list[dict], float]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script), *extra], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return f"timeout after {timeout}s", parse(out), time.perf_counter() - t0
    took = time.perf_counter() - t0
    if verbose:
        print(f"--- {script.name} (exit {proc.returncode}, {took:.0f}s)\n{proc.stdout}{proc.stderr}", flush=True)
    rows = parse(proc.stdout)
    if not rows and key in ADAPTERS:
        try:
            rows = ADAPTERS[key](proc.stdout)
        except Exception as exc:  # an adapter must never hide the script's own result
            print(f"{key}: could not read its output ({exc!r})", file=sys.stderr)
    if proc.returncode == 3:
        reason = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SKIP")), "skipped")
        return reason, rows, took
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
        return f"failed (exit {proc.returncode}): {tail[0][:120]}", rows, took
    if not rows:
        return "ran, printed no BENCH line", rows, took
    return "ok", rows, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="keys: " + ", ".join(k for k, *_ in SCRIPTS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if args.quick:
        env["LIANXIN_BENCH_QUICK"] = "1"
    table: list[tuple[str, str, str, str, str, str]] = []
    notes: list[str] = []
    missed = 0
    for key, name, what, timeout, extra in SCRIPTS:
        if args.only and key not in args.only:
            continue
        script = HERE / name
        if not script.exists():
            table.append((key, "—", "not available", "", "", ""))
            continue
        print(f"running {name} ({what}) …", file=sys.stderr, flush=True)
        status, rows, took = run_script(key, script, timeout, env, args.verbose, extra)
        if status != "ok":
            notes.append(f"{key}: {status}")
        if not rows:
            table.append((key, "—", status, "", "", ""))
        for r in rows:
            table.append((key, r["name"], r["value"], r["unit"], r["goal"], r["ok"]))
            if r["ok"] == "no":
                missed += 1
        print(f"  {name}: {status} in {took:.0f}s", file=sys.stderr, flush=True)

    headers = ("bench", "figure", "value", "unit", "goal", "ok")
    widths = [max(_w(h), *(_w(row[i]) for row in table)) if table else _w(h) for i, h in enumerate(headers)]
    print()
    print("  ".join(_pad(h, widths[i]) for i, h in enumerate(headers)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(_pad(c, widths[i]) for i, c in enumerate(row)))
    for n in notes:
        print(f"note: {n}")
    print(f"\n{missed} goal(s) missed" if missed else "\nall measured goals met")
    return 1 if missed else 0


def _w(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, width: int) -> str:
    return s + " " * (width - _w(s))


if __name__ == "__main__":
    sys.exit(main())
