from django.core.management.base import BaseCommand

from demo.synthetic_run import create_synthetic_run


class Command(BaseCommand):
    help = (
        "Create a synthetic match run with ground truth (text-only offers) for trying the review."
    )

    def add_arguments(self, parser):
        parser.add_argument("--queries", type=int, default=200)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, **opts):
        run = create_synthetic_run(n_queries=opts["queries"], seed=opts["seed"])
        self.stdout.write(f"{run.pk}")
