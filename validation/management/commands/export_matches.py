from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from matching.models import MatchRun
from matching.selectors import RunNotDone, run_by_ref
from validation.services import export as export_services


class Command(BaseCommand):
    help = "Write the accepted matches of a run (auto + human, one-to-one) to a CSV file."

    def add_arguments(self, parser):
        parser.add_argument("run", help="match run id or 'latest'")
        parser.add_argument("--out", required=True)

    def handle(self, *args, **opts):
        try:
            run = run_by_ref(opts["run"])
        except (MatchRun.DoesNotExist, ValueError) as exc:
            raise CommandError(f"no such run: {opts['run']}") from exc
        try:
            n, dropped = export_services.write_export(run=run, path=Path(opts["out"]))
        except RunNotDone as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{n} matches written to {opts['out']} ({dropped} one-to-one conflicts dropped)"
        )
