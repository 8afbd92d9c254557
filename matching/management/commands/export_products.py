from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from matching.management.commands._matching_args import date_arg
from matching.models import Shop
from matching.product_export import write_products_csv


class Command(BaseCommand):
    help = (
        "Write the offer -> product feed as CSV: offer_id, shop, product_key, decided_by "
        "(auto|human), updated_at; one row per offer in a product."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="CSV file to write")
        parser.add_argument("--since", help="only offers whose product changed on or after")
        parser.add_argument("--shop", help="only this shop's offers (commas allowed)")

    def handle(self, *args, **o):
        since = date_arg(o["since"])
        shop = o["shop"]
        if shop is not None and not Shop.objects.filter(name=shop).exists():
            raise CommandError(f"no shop named {shop!r}")
        out = Path(o["out"])
        if not out.parent.is_dir():
            raise CommandError(f"folder does not exist: {out.parent}")
        tmp = out.with_name(out.name + ".part")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            n = write_products_csv(fh, since=since, shop=shop)
        tmp.replace(out)
        self.stdout.write(f"{n} offers written to {out}")
