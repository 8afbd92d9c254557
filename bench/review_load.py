"""Review under load: validators driven over HTTP against gunicorn on PostgreSQL.

    .venv/bin/python bench/review_load.py --pg postgres://postgres@127.0.0.1:55433 \
        --sizes 2000,90000 --validators 1,50 --cycles 40 [--app-dir DIR] [--db-prefix NAME]

For every N in --sizes: a database ``{db-prefix}_{N}`` (created, migrated and filled once;
reused when it already holds the run) gets a synthetic run of N queries (demo/synthetic_run.py)
routed with accept 0.9 / review 0.5, 50 validators and one admin. It is served by gunicorn as
docker-compose serves it (``fashionid_app.wsgi``, 3 sync workers, here bound to 127.0.0.1).
For every V in --validators, V threads (one per validator, each logged in with its session and
CSRF token) run C cycles of GET /review/ then POST /review/judge/ (a random key) and the bench
prints review GET and judge POST p50/p95, judgements per second (all validators together) and
the SQL queries of one review GET and one judge POST (measured in-process with Django's test
client on the same database). After the drive it checks the database: rows with more active
judgements than they need (over-judged) and (row, validator) pairs judged twice (duplicates).
At the largest N it also times the admin pages (runs, triage, quality): server time in-process
(median of 3 after one warm-up) and the HTML size.

``--app-dir`` serves another checkout (e.g. the main branch, for before/after figures); its
own manage.py migrates and fills its databases, so use a separate --db-prefix for it.
Requests go to 127.0.0.1 only; every phase is bounded by --cycles and --max-seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from _review_http import PASSWORD, Browser, drive, free_port  # bench/ is sys.path[0]

ROOT = Path(__file__).resolve().parents[1]
N_VALIDATORS = 50

# Runs inside `manage.py shell -c` of the served checkout (so before/after use their own code).
SETUP = r"""
import os
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from demo.synthetic_run import create_synthetic_run
from matching.models import MatchRun
from validation.models import ReviewRow, ReviewSettings
from validation.services.routing import route_run
n = int(os.environ["BENCH_N"])
run = MatchRun.objects.filter(n_queries=n, features="synthetic").order_by("-id").first()
if run is None or not ReviewRow.objects.filter(run=run).exists():
    run = create_synthetic_run(n_queries=n, seed=7)
    ReviewSettings.load()
    route_run(run=run, accept=0.9, review=0.5)
User = get_user_model()
vg = Group.objects.get_or_create(name="Validators")[0]
ag = Group.objects.get_or_create(name="Admins")[0]
for i in range(int(os.environ["BENCH_USERS"])):
    u, made = User.objects.get_or_create(username=f"bench-v{i}")
    if made:
        u.set_password(os.environ["BENCH_PASSWORD"]); u.save(); u.groups.add(vg)
u, made = User.objects.get_or_create(username="bench-admin")
if made:
    u.set_password(os.environ["BENCH_PASSWORD"]); u.save(); u.groups.add(ag)
print("RUN", run.pk, ReviewRow.objects.filter(run=run, status="open").count())
"""

MEASURE = r"""
import json, os, statistics, time
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from validation.models import Judgement, ReviewRow
out = {}
run_id = int(os.environ["BENCH_RUN"])
c = Client()
c.force_login(get_user_model().objects.get(username="bench-v0"))
counts, get_ms, get_cpu, pick_ms = [], [], [], []
for _ in range(int(os.environ.get("BENCH_INPROC", "2"))):
    with CaptureQueriesContext(connection) as get_q:
        t, c0 = time.perf_counter(), time.thread_time()
        page = c.get("/review/")
        get_ms.append((time.perf_counter() - t) * 1000)
        get_cpu.append((time.thread_time() - c0) * 1000)
    pick_ms += [float(x["time"]) * 1000 for x in get_q.captured_queries
                if "SKIP LOCKED" in x["sql"]]
    m = __import__("re").search(r'name="lease" value="(\d+)"', page.content.decode())
    if not m:
        break
    with CaptureQueriesContext(connection) as post_q:
        c.post("/review/judge/", {"lease": m.group(1), "slot": "0"})
    counts.append((len(get_q), len(post_q)))
out["queries"] = counts[-1] if counts else None
out["inproc"] = {"get_ms": statistics.median(get_ms), "get_cpu_ms": statistics.median(get_cpu),
                 "pick_ms": statistics.median(pick_ms) if pick_ms else None, "n": len(get_ms)}
active = Judgement.objects.filter(undone_at__isnull=True)
out["duplicates"] = (
    active.values("row", "validator").annotate(n=Count("id")).filter(n__gt=1).count()
)
out["over_judged"] = (
    ReviewRow.objects.annotate(a=Count("judgements", filter=Q(judgements__undone_at__isnull=True)))
    .filter(a__gt=F("judgements_needed")).count()
)
out["open_rows"] = ReviewRow.objects.filter(run_id=run_id, status="open").count()
if os.environ.get("BENCH_ADMIN") == "1":
    a = Client()
    a.force_login(get_user_model().objects.get(username="bench-admin"))
    pages = {}
    for name, url in (("runs", "/runs/"), ("triage", f"/runs/{run_id}/triage/"),
                      ("quality", f"/runs/{run_id}/quality/"), ("throughput", "/throughput/")):
        if a.get(url).status_code == 404:
            continue  # a checkout without that page
        ms, cpu, size, nq = [], [], 0, 0
        for _ in range(3):
            with CaptureQueriesContext(connection) as q:
                t, c0 = time.perf_counter(), time.thread_time()
                r = a.get(url)
                ms.append((time.perf_counter() - t) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
            size, nq = len(r.content), len(q)
            assert r.status_code == 200, (url, r.status_code)
        pages[name] = {"ms": statistics.median(ms), "cpu_ms": statistics.median(cpu),
                       "kb": size / 1024, "queries": nq}
    out["admin"] = pages
print("JSON" + json.dumps(out))
"""


def _env(args, db: str) -> dict:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=f"{args.pg}/{db}",
        SECRET_KEY="bench-only-secret",  # noqa: S106
        ALLOWED_HOSTS="127.0.0.1,testserver",
        FASHIONID_HTTPS="0",  # plain HTTP on the loopback (no SSL redirect, no secure cookies)
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        FASHIONID_VAR_DIR=f"/tmp/review-load-var-{db}",  # noqa: S108
        BENCH_PASSWORD=PASSWORD,
        BENCH_USERS=str(N_VALIDATORS),
    )
    return env


def _manage(args, env: dict, *cmd: str) -> str:
    py = str(Path(args.app_dir) / ".venv/bin/python")
    if not Path(py).exists():
        py = sys.executable
    res = subprocess.run(
        [py, "manage.py", *cmd], cwd=args.app_dir, env=env, capture_output=True, text=True
    )
    if res.returncode != 0:
        sys.exit(f"manage.py {cmd[0]} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res.stdout


def _ensure_db(args, db: str) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            conn.execute(f'CREATE DATABASE "{db}"')


def serve(args, env: dict, port: int) -> subprocess.Popen:
    gunicorn = Path(args.app_dir) / ".venv/bin/gunicorn"
    if not gunicorn.exists():
        gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "fashionid_app.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=args.app_dir,
        env=env,
        start_new_session=True,
    )
    for _ in range(300):
        try:
            Browser(port).request("GET", "/accounts/login/")
            return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    sys.exit("gunicorn did not start")


def load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--pg",
        default="postgres://postgres@127.0.0.1:55433",
        help="PostgreSQL server URL without database name (loopback)",
    )
    p.add_argument("--sizes", default="2000,90000")
    p.add_argument("--validators", default="1,50")
    p.add_argument("--cycles", type=int, default=40, help="GET+POST cycles per validator")
    p.add_argument("--max-seconds", type=float, default=120.0, help="per drive phase")
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--app-dir", default=str(ROOT), help="checkout to serve (default: this one)")
    p.add_argument("--db-prefix", default="review_load")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--inproc-cycles",
        type=int,
        default=20,
        help="GET+POST cycles timed in-process (test client) after each drive",
    )
    p.add_argument("--setup-only", action="store_true", help="create and fill the databases")
    args = p.parse_args()
    if urllib.parse.urlparse(args.pg).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("--pg must point at a loopback PostgreSQL server")
    sizes = [int(x) for x in args.sizes.split(",")]
    vals = [int(x) for x in args.validators.split(",")]
    if max(vals) > N_VALIDATORS:
        sys.exit(f"at most {N_VALIDATORS} validators")
    print("command:", shlex.join([sys.executable.replace(str(ROOT) + "/", ""), *sys.argv]))
    print(f"app dir: {args.app_dir}; gunicorn workers: {args.workers}; load before: {load()}")
    rows = []
    admin = None
    for n in sizes:
        db = f"{args.db_prefix}_{n}"
        _ensure_db(args, db)
        env = {**_env(args, db), "BENCH_N": str(n)}
        t = time.perf_counter()
        _manage(args, env, "migrate", "--noinput", "-v", "0")
        setup = _manage(args, env, "shell", "-c", SETUP)
        run_id, n_open = (int(x) for x in setup.split("RUN", 1)[1].split()[:2])
        print(f"N={n}: run #{run_id}, {n_open} open rows (setup {time.perf_counter() - t:.0f} s)")
        if args.setup_only:
            continue
        port = free_port()
        proc = serve(args, env, port)
        try:
            for v in vals:
                res = drive(port, v, args.cycles, args.max_seconds, args.seed)
                env_m = {
                    "BENCH_INPROC": str(args.inproc_cycles),
                    **env,
                    "BENCH_RUN": str(run_id),
                    "BENCH_ADMIN": "1" if (n == max(sizes) and v == vals[-1]) else "0",
                }
                meas = json.loads(_manage(args, env_m, "shell", "-c", MEASURE).split("JSON", 1)[1])
                if meas.get("admin"):
                    admin = meas["admin"]
                rows.append((n, v, n_open, res, meas, load()))
                ip = meas["inproc"]
                print(
                    f"N={n} in-process review GET (test client, {ip['n']} GET+POST cycles): "
                    f"median {ip['get_ms']:.0f} ms wall, {ip['get_cpu_ms']:.0f} ms CPU; "
                    f"lease pick statement {ip['pick_ms'] or float('nan'):.1f} ms"
                )
                q = meas["queries"] or ("?", "?")
                print(
                    f"N={n} V={v}: GET p50/p95 {res['get_p50']:.0f}/{res['get_p95']:.0f} ms, "
                    f"POST p50/p95 {res['post_p50']:.0f}/{res['post_p95']:.0f} ms, "
                    f"{res['judgements']} judgements in {res['wall_s']:.1f} s "
                    f"= {res['per_s']:.1f}/s, "
                    f"SQL per GET/POST {q[0]}/{q[1]}, over-judged {meas['over_judged']}, "
                    f"duplicates {meas['duplicates']}, errors {res['errors']}, load {load()}",
                    flush=True,
                )
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    print()
    print(
        "| N queries | open rows | V | review GET p50 / p95 ms | judge POST p50 / p95 ms "
        "| judgements/s | SQL per GET / POST | over-judged | duplicates |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, v, n_open, r, m, _ in rows:
        q = m["queries"] or ("?", "?")
        print(
            f"| {n:,} | {n_open:,} | {v} | {r['get_p50']:.0f} / {r['get_p95']:.0f} | "
            f"{r['post_p50']:.0f} / {r['post_p95']:.0f} | {r['per_s']:.1f} | {q[0]} / {q[1]} | "
            f"{m['over_judged']} | {m['duplicates']} |"
        )
    if admin:
        print()
        print(
            f"admin pages at N={max(sizes):,} (in-process, median of 3: wall ms, of which "
            "CPU ms in the Django process; the rest is PostgreSQL and waiting for a core):"
        )
        for name, a in admin.items():
            print(
                f"  {name}: {a['ms']:.0f} ms wall, {a['cpu_ms']:.0f} ms CPU, "
                f"{a['kb']:.0f} KB, {a['queries']} SQL queries"
            )
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
