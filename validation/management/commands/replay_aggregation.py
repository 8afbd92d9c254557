from django.core.management.base import BaseCommand, CommandError

from matching.models import MatchRun
from matching.selectors import run_by_ref
from validation.report_text import replay_text
from validation.selectors.quality import aggregation_replay


class Command(BaseCommand):
    help = (
        "Replay a run's stored judgements under majority, stop-when-two-agree, unanimous and "
        "Dawid-Skene, scored against ground truth where known (validation/replay.py)."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", help="match run id or 'latest'")

    def handle(self, *args, **opts):
        try:
            run = run_by_ref(opts["run"])
        except (MatchRun.DoesNotExist, ValueError) as exc:
            raise CommandError(f"no such run: {opts['run']}") from exc
        self.stdout.write(f"aggregation replay of run #{run.pk}")
        self.stdout.write(replay_text(aggregation_replay(run=run)))
