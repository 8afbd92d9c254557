"""Admin page server time in-process (Django test client) on a database bench/review_load.py filled.

    .venv/bin/python bench/admin_pages.py \
        --pg postgres://postgres@127.0.0.1:55433 --db review_load_90000 [--repeat 7] \
        [--pages runs,triage,quality,throughput] [--profile triage] [--code /work/main]

Times GET of the runs, triage, quality and throughput pages of the database's largest run as
its admin ("bench-admin"): the first (cold) request of this process, then the median wall and
CPU (thread time of the Django process) of --repeat more (warm), and of --repeat requests each
after clearing Django's cache (what a server process pays the first time it shows the run),
with the HTML size and SQL queries. ``--code`` serves the pages with another checkout's code
(default: this one), e.g. the main branch for before/after figures on the same database.
``--profile PAGE`` prints the cProfile top functions of one warm request of that page (and
of a cold one when ``--cold`` is given: the page's cache cleared first); ``--sql`` lists the SQL
statements of each page's last request with their times.
Reads only; requests go to the loopback database.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split(" ", 3)[:3])
    except OSError:
        return "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:55433")
    p.add_argument("--db", default="review_load_90000")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--pages", default="runs,triage,quality,throughput")
    p.add_argument("--profile", default="", help="a page name: print its cProfile")
    p.add_argument("--cold", action="store_true", help="profile a cold request (cache cleared)")
    p.add_argument("--code", default=str(ROOT), help="checkout whose code serves the pages")
    p.add_argument("--sql", action="store_true", help="print the SQL of each page's last request")
    args = p.parse_args()
    if urllib.parse.urlparse(args.pg).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("--pg must point at a loopback PostgreSQL server")
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        DATABASE_URL=f"{args.pg}/{args.db}",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret"),
        ALLOWED_HOSTS="127.0.0.1,testserver",
        FASHIONID_HTTPS="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        FASHIONID_VAR_DIR=f"/tmp/review-load-var-{args.db}",  # noqa: S108
        DJANGO_SETTINGS_MODULE="fashionid_app.settings",
    )
    sys.path.insert(0, args.code)
    os.chdir(args.code)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from matching.models import MatchRun

    run = MatchRun.objects.filter(features="synthetic").order_by("-n_queries", "-id").first()
    if run is None:
        sys.exit(f"no synthetic run in {args.db}: fill it with bench/review_load.py --setup-only")
    admin = get_user_model().objects.get(username="bench-admin")
    c = Client()
    c.force_login(admin)
    urls = {
        "runs": "/runs/",
        "triage": f"/runs/{run.pk}/triage/",
        "quality": f"/runs/{run.pk}/quality/",
        "throughput": "/throughput/",
    }
    print(f"code: {args.code}; database {args.db}, run #{run.pk} ({run.n_queries} queries)")
    print(f"load before: {load()}")
    cache.clear()
    for name in args.pages.split(","):
        url = urls[name]
        ms, cpu = [], []
        for i in range(args.repeat + 1):
            with CaptureQueriesContext(connection) as q:
                t, c0 = time.perf_counter(), time.thread_time()
                r = c.get(url)
                ms.append((time.perf_counter() - t) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
            assert r.status_code == 200, (url, r.status_code)
            size, statements = len(r.content), list(q.captured_queries)  # before the next request
            if i == 0:
                cold = (ms[0], cpu[0])
        warm_ms, warm_cpu = ms[1:], cpu[1:]
        miss_ms, miss_cpu = [], []
        for _ in range(args.repeat):
            cache.clear()  # what a server process pays the first time it shows this run
            t, c0 = time.perf_counter(), time.thread_time()
            assert c.get(url).status_code == 200, url
            miss_ms.append((time.perf_counter() - t) * 1000)
            miss_cpu.append((time.thread_time() - c0) * 1000)
        print(
            f"{name}: cold {cold[0]:.0f} ms wall / {cold[1]:.0f} ms CPU; warm median of "
            f"{len(warm_ms)}: {statistics.median(warm_ms):.0f} ms wall / "
            f"{statistics.median(warm_cpu):.0f} ms CPU (min {min(warm_ms):.0f}, max "
            f"{max(warm_ms):.0f}); cache cleared first: {statistics.median(miss_ms):.0f} ms wall "
            f"/ {statistics.median(miss_cpu):.0f} ms CPU; {size / 1024:.0f} KB, "
            f"{len(statements)} SQL; load {load()}",
            flush=True,
        )
        if args.sql:
            for x in statements:
                print(f"  {float(x['time']) * 1000:6.1f} ms  {x['sql'][:150]}")
    if args.profile:
        if args.cold:
            cache.clear()
        prof = cProfile.Profile()
        prof.enable()
        c.get(urls[args.profile])
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
