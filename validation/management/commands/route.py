from django.core.management.base import BaseCommand, CommandError

from matching.models import MatchRun
from matching.selectors import RunNotDone, run_by_ref
from validation.routing import DEFAULT_TARGET_PRECISION
from validation.services import routing as routing_services


class Command(BaseCommand):
    help = "Route a match run by top-1 similarity: auto-accept, human review, dropped."

    def add_arguments(self, parser):
        parser.add_argument("run", help="match run id or 'latest'")
        parser.add_argument("--accept", type=float, default=None)
        parser.add_argument("--review", type=float, default=None)
        parser.add_argument("--target-precision", type=float, default=DEFAULT_TARGET_PRECISION)

    def handle(self, *args, **opts):
        try:
            run = run_by_ref(opts["run"])
        except (MatchRun.DoesNotExist, ValueError) as exc:
            raise CommandError(f"no such run: {opts['run']}") from exc
        try:
            s = routing_services.route_run(
                run=run,
                accept=opts["accept"],
                review=opts["review"],
                target_precision=opts["target_precision"],
            )
        except RunNotDone as exc:
            raise CommandError(str(exc)) from exc
        acc = "none" if s["accept"] is None else f"{s['accept']:.4f}"
        self.stdout.write(
            f"run #{run.pk}: accept >= {acc}, review >= {s['review']:.4f}"
            f"{' (suggested: ' + s['reason'] + ')' if s['suggested'] else ''}"
        )
        self.stdout.write(f"  figures from: {s['source_label']}")
        for note in s.get("source_notes", []):
            self.stdout.write(f"  note: {note}")
        for b in s["bands"]:
            p = "–" if b["precision"] is None else f"{b['precision']:.3f}"
            r = "–" if b["recall"] is None else f"{b['recall']:.3f}"
            self.stdout.write(f"  {b['band']:8s} {b['n']:7d} queries  precision {p}  recall {r}")
        if s["p_hitl"] is not None:
            self.stdout.write(f"  predicted P_hitl of the review band: {s['p_hitl']:.3f}")
        self.stdout.write(
            f"  review rows: {s['n_review_rows_created']} new, {s['n_review_rows_closed']} closed; "
            f"gold rows: {s['n_gold']}"
        )
        self.stdout.write(
            f"  product conflicts: {s['n_conflict_rows_created']} new conflict rows, "
            f"{s['n_conflict_rows_closed']} closed; {s['n_conflicts_admin_only']} for admins only"
        )
