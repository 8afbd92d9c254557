import time

from django.core.management.base import BaseCommand, CommandError

from matching.models import MatchRun
from matching.selectors import run_by_ref
from validation import simulation
from validation.models import ReviewSettings
from validation.report_text import format_number, quality_text
from validation.selectors.quality import quality_report
from validation.services import truth as truth_services
from validation.truth_file import TruthFileError


class Command(BaseCommand):
    help = (
        "Judge a routed run with simulated validators of given TPR/FPR, then report quality "
        "and judgements per decided row (observed and expected)."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", help="match run id or 'latest'")
        parser.add_argument("--validators", type=int, default=3)
        parser.add_argument("--tpr", type=float, required=True)
        parser.add_argument("--fpr", type=float, required=True)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--full-majority",
            action="store_true",
            help="ask every judgement (early decision off) while simulating; the setting is "
            "restored afterwards",
        )
        parser.add_argument(
            "--truth",
            metavar="FILE.csv",
            help="ground truth kept outside the catalogue (columns offer_id, shop, product_id): "
            "sets the truth of the run's rows before judging; offers it does not name keep "
            "their catalogue product id",
        )

    def handle(self, *args, **opts):
        try:
            run = run_by_ref(opts["run"])
        except (MatchRun.DoesNotExist, ValueError) as exc:
            raise CommandError(f"no such run: {opts['run']}") from exc
        if opts["truth"]:
            try:
                truth = truth_services.load_truth_file(path=opts["truth"])
            except TruthFileError as exc:
                raise CommandError(f"{opts['truth']}: {exc}") from exc
            except OSError as exc:
                raise CommandError(f"cannot read {opts['truth']}: {exc}") from exc
            c = truth_services.apply_truth(run=run, truth=truth)
            self.stdout.write(
                f"truth from {opts['truth']} ({len(truth)} offers): {c['rows']} rows "
                f"({c['match']} match, {c['none']} none, {c['unknown']} unknown; "
                f"{c['changed']} changed)"
            )
        cfg = ReviewSettings.load()
        saved = cfg.early_decision
        if opts["full_majority"]:
            cfg.early_decision = False
            cfg.save(update_fields=["early_decision"])
        try:
            t0 = time.perf_counter()
            n = simulation.simulate(
                run=run,
                validators=opts["validators"],
                tpr=opts["tpr"],
                fpr=opts["fpr"],
                seed=opts["seed"],
            )
            dt = time.perf_counter() - t0
            expected = simulation.expected_votes_per_decided_row(
                run=run, tpr=opts["tpr"], fpr=opts["fpr"]
            )
            mode = "early decision" if ReviewSettings.load().early_decision else "full majority"
        finally:
            if cfg.early_decision != saved:
                cfg.early_decision = saved
                cfg.save(update_fields=["early_decision"])
        self.stdout.write(
            f"{n} judgements by {opts['validators']} simulated validators in {dt:.1f} s ({mode})"
        )
        q = quality_report(run=run, seed=opts["seed"])
        self.stdout.write(
            f"judgements per decided row: {format_number(q['votes_per_decided_row'], 3)} "
            f"(expected {format_number(expected, 3)} for TPR {opts['tpr']} / FPR {opts['fpr']})"
        )
        self.stdout.write(quality_text(q))
