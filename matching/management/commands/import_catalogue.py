import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from matching.catalogue import CatalogueError
from matching.catalogue_import import import_catalogue
from matching.catalogue_rows import RowError


class Command(BaseCommand):
    help = (
        "Import a catalogue folder (offers.csv + images). Idempotent: re-importing updates "
        "offers by (shop, offer_id). Rejected rows are reported with their line; the command "
        "exits non-zero when any row was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="catalogue folder containing offers.csv")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, directory: str, no_progress: bool, **options):
        bar = tqdm(
            total=0, unit="rows", disable=no_progress or None, file=sys.stderr, dynamic_ncols=True
        )

        def on_error(error: RowError) -> None:
            bar.clear()
            self.stderr.write(f"{directory.rstrip('/')}/{error}")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            batch = import_catalogue(directory=directory, on_error=on_error, progress=progress)
        except CatalogueError as exc:
            bar.close()
            raise CommandError(str(exc)) from None
        bar.close()
        self.stdout.write(
            f"import #{batch.pk}: {batch.n_rows} rows: {batch.n_imported} imported, "
            f"{batch.n_updated} updated, {batch.n_unchanged} unchanged, "
            f"{batch.n_rejected} rejected; {batch.n_images} images; "
            f"{batch.seconds:.1f} s ({batch.rows_per_second:.0f} rows/s)"
        )
        if batch.n_rejected:
            raise CommandError(f"{batch.n_rejected} row(s) rejected (see above)", returncode=1)
