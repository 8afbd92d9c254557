"""Issue 9's "Done when" scenario, end to end through the real management commands.

    .venv/bin/python bench/loop_scenario.py /work/shared/data/bench/abt-buy \
        [--database-url URL] [--var-dir DIR] [--keep]

1. offers.csv is copied into a temp catalogue with the product ids of the query shop's offers
   created on or after the cutoff emptied; those ids go to a truth file (offer_id, shop,
   product_id).
2. import_catalogue, encode, train_projection --train-shops abt,buy --before CUTOFF --features
   text, match --query-shop abt --index-shop buy --since CUTOFF --model latest --features text,
   route latest --target-precision 0.95.
3. Figures: queries auto-accepted, the observed precision of the auto-accepted set against the
   truth file, and whether route and the triage page name the model's calibration as the source.
4. simulate_validators latest --validators 5 --tpr 0.9 --fpr 0.02 --truth FILE; the same match
   and route again: review rows created for queries decided in the first run, and auto-accepted
   pairs that validators rejected (PairVerdict, human, rejected).
5. export_products before and after the re-run: every accepted offer listed once, product keys
   identical across the two exports.
6. The API (Django's test client): /api/v1/products/ with a token from create_api_token holds
   the export's offers and keys; 401 without a token.
7. Product conflicts: conflict rows created by each routing, automatic acceptances withdrawn
   by human ones (superseded verdicts: an implicit rejection, so the re-run neither auto-accepts
   them again nor asks about them in a conflict row), the run decisions withdrawn with them (not
   in run 1's match export); simulate_validators again decides the re-run's conflict rows;
   export_products a third time: no offer changes its key (offers may leave a product).

Every step runs `manage.py` as a subprocess on a throw-away FASHIONID_VAR_DIR (SQLite there by
default, or --database-url); the checks read the same database through the ORM (django.setup()
in this process, after the commands wrote). Prints each command with its time, then a table of
the figures with pass/fail against the issue's thresholds; exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _loop_data import (  # bench/ is the script's folder: sys.path[0]
    CUTOFF,
    QUERY_SHOP,
    export_checks,
    make_catalogue,
    read_export,
    read_truth,
)

ROOT = Path(__file__).resolve().parents[1]
INDEX_SHOP = "buy"
TARGET_PRECISION = 0.95
MIN_OBSERVED_PRECISION = 0.93
CALIBRATION_SOURCE = re.compile(r"model #\d+'s held-out evaluation")


class Runner:
    def __init__(self, *, env: dict):
        self.env = env
        self.log: list[tuple[str, float]] = []

    def manage(self, *args: str) -> str:
        cmd = [sys.executable, "manage.py", *args]
        shown = "python manage.py " + shlex.join(args)
        print(f"$ {shown}", flush=True)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        self.log.append((shown, dt))
        out = done.stdout.strip()
        if out and args[0] != "create_api_token":
            print("\n".join("    " + line for line in out.splitlines()[-25:]))
        print(f"    [{dt:.1f} s, exit {done.returncode}]", flush=True)
        if done.returncode != 0:
            print(done.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"failed: {shown}")
        return done.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data_dir", type=Path, help="catalogue folder holding offers.csv (abt-buy)")
    ap.add_argument("--database-url", help="default: SQLite in the throw-away var dir")
    ap.add_argument("--var-dir", type=Path, help="default: a new temp folder")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()

    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="loop-scenario-"))
    var = args.var_dir or work / "var"
    var.mkdir(parents=True, exist_ok=True)
    cat_dir, truth_path = work / "catalogue", work / "truth.csv"
    n_rows, n_truth = make_catalogue(data_dir=args.data_dir, out_dir=cat_dir, truth_path=truth_path)
    print(f"catalogue {cat_dir}: {n_rows} offers, {n_truth} {QUERY_SHOP} product ids moved to "
          f"{truth_path}")  # fmt: skip

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        FASHIONID_VAR_DIR=str(var),
        SECRET_KEY=env.get("SECRET_KEY", "loop-scenario"),
        DEBUG="0",
        FASHIONID_HTTPS="0",
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        DJANGO_SETTINGS_MODULE="fashionid_app.settings",
    )
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    r = Runner(env=env)
    match_args = ("match", "--query-shop", QUERY_SHOP, "--index-shop", INDEX_SHOP, "--since",
                  CUTOFF, "--model", "latest", "--features", "text")  # fmt: skip
    route_args = ("route", "latest", "--target-precision", str(TARGET_PRECISION))

    r.manage("migrate", "-v0")
    r.manage("import_catalogue", str(cat_dir), "--no-progress")
    r.manage("encode", "--no-progress")
    r.manage("train_projection", "--train-shops", f"{QUERY_SHOP},{INDEX_SHOP}", "--before",
             CUTOFF, "--features", "text")  # fmt: skip
    r.manage(*match_args)
    route1_out = r.manage(*route_args)

    # The ORM on the same database, in this process (the commands above have committed).
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from matching.models import MatchRun, Offer, PairVerdict, ProductConflict
    from validation.models import Decision, ReviewRow, Routing

    truth = read_truth(truth_path)

    run1 = MatchRun.objects.order_by("-id").first()
    auto1 = list(
        Decision.objects.filter(run=run1, source="auto", matched_offer__isnull=False).values_list(
            "query_offer__shop__name", "query_offer__offer_id", "matched_offer__product_id"
        )
    )
    n_auto = len(auto1)
    n_correct = sum(1 for s, o, pid in auto1 if pid and truth.get((s, o)) == pid)
    precision = n_correct / n_auto if n_auto else None
    route_source = bool(CALIBRATION_SOURCE.search(route1_out))

    User = get_user_model()
    admin = User.objects.create_superuser("loop-admin", "loop-admin@example.invalid", "x-loop-1")
    client = Client()
    client.force_login(admin)
    resp = client.get(reverse("validation:triage", args=[run1.pk]))
    triage_html = html.unescape(resp.content.decode("utf-8", "replace"))
    triage_source = resp.status_code == 200 and bool(CALIBRATION_SOURCE.search(triage_html))
    client.logout()

    r.manage("simulate_validators", "latest", "--validators", "5", "--tpr", "0.9", "--fpr",
             "0.02", "--truth", str(truth_path))  # fmt: skip
    open_after_sim = ReviewRow.objects.filter(run=run1, status="open").count()
    # (a decision withdrawn because validators overruled its automatic match no longer decides)
    decided_queries = set(
        Decision.objects.filter(run=run1, withdrawn_at__isnull=True).values_list(
            "query_offer_id", flat=True
        )
    )
    withdrawn1 = set(
        Decision.objects.filter(run=run1, withdrawn_at__isnull=False).values_list(
            "query_offer_id", "matched_offer_id"
        )
    )
    export1 = work / "products-1.csv"
    r.manage("export_products", "--out", str(export1))

    hashes_before = dict(Offer.objects.values_list("pk", "content_hash"))
    r.manage(*match_args)
    route2_out = r.manage(*route_args)
    run2 = MatchRun.objects.order_by("-id").first()
    hashes_after = dict(Offer.objects.values_list("pk", "content_hash"))
    unchanged = {pk for pk, h in hashes_after.items() if hashes_before.get(pk) == h}
    rows2 = ReviewRow.objects.filter(run=run2)
    new_rows_unchanged = rows2.filter(
        query_offer_id__in=decided_queries & unchanged, kind="review"
    ).count()
    new_gold_unchanged = rows2.filter(
        query_offer_id__in=decided_queries & unchanged, kind="gold"
    ).count()
    n_rows2 = rows2.filter(kind="review").count()
    rejected = set(
        PairVerdict.objects.filter(verdict="rejected", source="human").values_list(
            "query_offer_id", "candidate_offer_id"
        )
    )
    auto2 = set(
        Decision.objects.filter(run=run2, source="auto", matched_offer__isnull=False).values_list(
            "query_offer_id", "matched_offer_id"
        )
    )
    auto_rejected = len(auto2 & rejected)
    auto_withdrawn2 = len(auto2 & withdrawn1)  # overruled pairs auto-accepted again
    review_withdrawn2 = rows2.filter(
        query_offer_id__in={q for q, _ in withdrawn1}, kind="review"
    ).count()
    n_auto2 = len(auto2)
    n_human2 = Decision.objects.filter(run=run2, source="human").count()

    export2 = work / "products-2.csv"
    r.manage("export_products", "--out", str(export2))
    e1, e2 = read_export(export1), read_export(export2)
    keys1, dup1 = export_checks(e1)
    keys2, dup2 = export_checks(e2)
    common = keys1.keys() & keys2.keys()
    key_changed = sum(1 for k in common if keys1[k] != keys2[k])
    only1 = len(keys1.keys() - keys2.keys())
    accepted = set()
    for d in Decision.objects.filter(
        matched_offer__isnull=False, withdrawn_at__isnull=True
    ).values_list(
        "query_offer__shop__name",
        "query_offer__offer_id",
        "matched_offer__shop__name",
        "matched_offer__offer_id",
    ):
        accepted.add((d[0], d[1]))
        accepted.add((d[2], d[3]))
    missing = accepted - keys2.keys()
    n_conflicts = ProductConflict.objects.filter(status="open").count()
    in_conflict = set()
    for conflict in ProductConflict.objects.filter(status="open"):
        in_conflict.update(
            Offer.objects.filter(pk__in=conflict.offer_ids).values_list("shop__name", "offer_id")
        )
    missing_unexplained = len(missing - in_conflict)

    token = r.manage("create_api_token", "loop-scenario").strip().splitlines()[-1]
    api = Client()
    url = "/api/v1/products/?page_size=1000"
    no_token = api.get(url).status_code
    bad_token = api.get(url, HTTP_AUTHORIZATION="Token not-a-token").status_code
    api_keys: dict = {}
    api_dup = 0
    status_ok = True
    while url:
        resp = api.get(url, HTTP_AUTHORIZATION=f"Token {token}")
        status_ok = status_ok and resp.status_code == 200
        if resp.status_code != 200:
            print(f"API {url}: {resp.status_code} {resp.content[:300]!r}", file=sys.stderr)
            break
        body = json.loads(resp.content)
        for prod in body["results"]:
            for off in prod["offers"]:
                k = (off["shop"], off["offer_id"])
                api_dup += k in api_keys
                api_keys[k] = prod["key"]
        url = body.get("next")
    api_same = status_ok and api_dup == 0 and api_keys == keys2

    # 7. conflicts: rows created per routing, decided by the simulated validators
    def conflict_rows_created(run):
        return sum(
            rt.summary.get("n_conflict_rows_created", 0) for rt in Routing.objects.filter(run=run)
        )

    n_crows1, n_crows2 = conflict_rows_created(run1), conflict_rows_created(run2)
    n_crows2_overruled = sum(  # re-run conflict rows asking about a pair validators overruled
        1
        for row in ReviewRow.objects.filter(run=run2, kind="conflict").select_related("conflict")
        if any({q, x} <= set(row.conflict.offer_ids) for q, x in withdrawn1)
    )
    n_superseded = PairVerdict.objects.filter(superseded_by__isnull=False).count()
    from validation.selectors.runs import accepted_matches

    export_m1 = {(m.query_pk, m.matched_pk) for m in accepted_matches(run=run1)}
    withdrawn_in_export = len(export_m1 & withdrawn1)
    ext = {pk: (sh, o) for pk, sh, o in Offer.objects.values_list("pk", "shop__name", "offer_id")}
    split_m1 = sum(  # pairs of run 1's match export that export 2 has not in one product
        1
        for q, m in export_m1
        if keys2.get(ext[q]) is None or keys2.get(ext[q]) != keys2.get(ext[m])
    )
    r.manage("simulate_validators", "latest", "--validators", "5", "--tpr", "0.9", "--fpr",
             "0.02", "--truth", str(truth_path))  # fmt: skip
    crows = ReviewRow.objects.filter(kind="conflict")
    n_crows = crows.count()
    n_crows_decided = crows.filter(status="decided").count()
    n_crows_open = crows.filter(status="open").count()
    judged = [
        (r_.decision, r_.truth, r_.truth_offer_id)
        for r_ in crows.filter(status="decided").exclude(truth="unknown")
    ]
    n_crows_right = sum(
        1 for d, t, o in judged if (t == "match" and d == str(o)) or (t == "none" and d == "none")
    )
    n_conflicts_resolved = ProductConflict.objects.filter(status="resolved").count()
    n_conflicts_open = ProductConflict.objects.filter(status="open").count()
    export3 = work / "products-3.csv"
    r.manage("export_products", "--out", str(export3))
    keys3, dup3 = export_checks(read_export(export3))
    key_changed3 = sum(1 for k in keys2.keys() & keys3.keys() if keys2[k] != keys3[k])
    left3 = len(keys2.keys() - keys3.keys())
    joined3 = len(keys3.keys() - keys2.keys())
    total = time.perf_counter() - t_start

    def fmt(x):
        return "–" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))

    table = [
        ("auto-accepted queries, first run", n_auto, "> 0", n_auto > 0),
        ("observed precision of the auto-accepted set (truth file)", precision, ">= 0.93",
         precision is not None and precision >= MIN_OBSERVED_PRECISION),
        ("route says figures come from the model's calibration", route_source, "yes",
         route_source),
        ("triage page names the model's calibration", triage_source, "yes", triage_source),
        ("review rows still open after simulate_validators", open_after_sim, "(info)", None),
        ("second run: review rows in all", n_rows2, "(info)", None),
        ("second run: new review rows for unchanged decided queries", new_rows_unchanged, "0",
         new_rows_unchanged == 0),
        ("second run: gold rows for unchanged decided queries", new_gold_unchanged, "(info)",
         None),
        ("second run: auto-accepted pairs", n_auto2, "(info)", None),
        ("second run: queries decided by reused human verdicts", n_human2, "(info)", None),
        ("pairs rejected by validators (human PairVerdicts)", len(rejected), "(info)", None),
        ("second run: auto-accepted pairs a validator rejected", auto_rejected, "0",
         auto_rejected == 0),
        ("export 1 / export 2 offers", f"{len(keys1)} / {len(keys2)}", "(info)", None),
        ("offers listed more than once (export 1 + export 2)", dup1 + dup2, "0",
         dup1 + dup2 == 0),
        ("accepted offers (all runs) not in export 2", len(missing), "(info)", None),
        ("  of which held back by an open product conflict", len(missing) - missing_unexplained,
         "(info)", None),
        ("accepted offers missing from export 2, no conflict", missing_unexplained, "0",
         missing_unexplained == 0),
        ("open product conflicts (admin: Product conflicts)", n_conflicts, "(info)", None),
        ("offers whose product key changed between exports", key_changed, "0", key_changed == 0),
        ("offers of export 1 missing from export 2", only1, "0", only1 == 0),
        ("API /products/ with token = export 2 (offers and keys)", api_same, "yes", api_same),
        ("API without token / unknown token", f"{no_token} / {bad_token}", "401 / 401",
         no_token == 401 and bad_token == 401),
        ("automatic accepts withdrawn by a human accept (superseded)", n_superseded, "(info)",
         None),
        ("run 1 decisions withdrawn with them", len(withdrawn1), "(info)", None),
        ("  re-run: auto-accepted again / review rows for their queries",
         f"{auto_withdrawn2} / {review_withdrawn2}", "0 / (info)", auto_withdrawn2 == 0),
        ("  withdrawn pairs in run 1's match export", withdrawn_in_export, "0",
         withdrawn_in_export == 0),
        ("run 1's match export: pairs not in one product of export 2", split_m1, "(info)", None),
        ("conflict rows created: route of run 1", n_crows1, "(info)", None),
        ("conflict rows created: route of the re-run", n_crows2, "(info)", None),
        ("  of which about a pair validators overruled (withdrawn)", n_crows2_overruled, "0",
         n_crows2_overruled == 0),
        ("conflict rows: all / decided / open after simulate_validators",
         f"{n_crows} / {n_crows_decided} / {n_crows_open}", "(info)", None),
        ("conflict rows decided as the truth file says (of those with truth)",
         f"{n_crows_right} / {len(judged)}", "(info)", None),
        ("product conflicts resolved / open (open: admin only or undecided)",
         f"{n_conflicts_resolved} / {n_conflicts_open}", "(info)", None),
        ("export 3 (after the conflict rows): offers; left / joined since export 2",
         f"{len(keys3)}; {left3} / {joined3}", "(info)", None),
        ("offers listed more than once (export 3)", dup3, "0", dup3 == 0),
        ("offers whose product key changed between exports 2 and 3", key_changed3, "0",
         key_changed3 == 0),
    ]  # fmt: skip
    print("\ncommands and their wall time:")
    for shown, dt in r.log:
        print(f"  {dt:7.1f} s  {shown}")
    print(f"\nrun #{run1.pk} (first), run #{run2.pk} (re-run); route of the re-run:")
    print("\n".join("    " + line for line in route2_out.strip().splitlines()))
    for row in ReviewRow.objects.filter(run=run2, kind="conflict").select_related("conflict"):
        c = row.conflict
        offers = [":".join(ext[int(o)]) for o in c.offer_ids]
        touched = sorted(":".join(ext[q]) for q, _ in withdrawn1 if q in c.offer_ids)
        print(f"re-run conflict row #{row.pk}: {c.reason} | offers {offers} | overruled queries "
              f"among them: {touched or 'none'}")  # fmt: skip
    w = max(len(t[0]) for t in table)
    print(f"\n{'figure':{w}s}  {'value':>12s}  {'needed':>10s}  result")
    for name, value, needed, ok in table:
        res = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{name:{w}s}  {fmt(value):>12s}  {needed:>10s}  {res}")
    print(f"\ntotal {total:.0f} s; work folder {work}" + ("" if args.keep else " (removed)"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(ok is not False for *_, ok in table) else 1


if __name__ == "__main__":
    raise SystemExit(main())
