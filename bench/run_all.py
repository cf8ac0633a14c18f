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

# (key, script, what it measures, timeout seconds)
SCRIPTS = [
    ("floor", "bench_floor.py", "decrypt + verify + parse in-process", 120),
    ("webhook", "bench_webhook.py", "webhook under gunicorn vs echo bot", 1200),
    ("signup", "bench_signup_storm.py", "sign-up storm: 2,000 clicks, 50 seats", 300),
    ("reminders", "bench_reminders.py", "reminder computation at company scale", 300),
    ("import", "bench_import.py", "roster import", 300),
    ("coverage", "bench_coverage.py", "talk coverage query", 300),
    ("dashboard", "bench_dashboard.py", "dashboard", 300),
]

LINE = re.compile(r"^BENCH\s+(?P<name>[^=\s]+)=(?P<value>\S*)\s*(?P<unit>.*?)\s+goal=(?P<goal>\S*)\s+ok=(?P<ok>\S+)\s*$")


def parse(output: str) -> list[dict]:
    rows = []
    for line in output.splitlines():
        m = LINE.match(line.strip())
        if m:
            rows.append(m.groupdict())
    return rows


def run_script(script: Path, timeout: int, env: dict, verbose: bool) -> tuple[str, list[dict], float]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return f"timeout after {timeout}s", parse(out), time.perf_counter() - t0
    took = time.perf_counter() - t0
    if verbose:
        print(f"--- {script.name} (exit {proc.returncode}, {took:.0f}s)\n{proc.stdout}{proc.stderr}", flush=True)
    rows = parse(proc.stdout)
    if proc.returncode == 3:
        reason = next((l for l in proc.stdout.splitlines() if l.startswith("SKIP")), "skipped")
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
    for key, name, what, timeout in SCRIPTS:
        if args.only and key not in args.only:
            continue
        script = HERE / name
        if not script.exists():
            table.append((key, "—", "not available", "", "", ""))
            continue
        print(f"running {name} ({what}) …", file=sys.stderr, flush=True)
        status, rows, took = run_script(script, timeout, env, args.verbose)
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
