from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo import catalogue as demo_catalogue
from demo.services import mark_shops_synthetic
from fashionid_app.accounts import ensure_account
from fashionid_app.pipeline import run_pipeline
from matching.catalogue import CatalogueError
from matching.management.commands._matching_args import add_shop_arguments, shops_from
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.training import TrainConfig


class Command(BaseCommand):
    help = (
        "Run the whole pipeline on the embedded default: import a catalogue (a generated "
        "synthetic one unless --catalogue is given), encode, train, match, route; then create "
        "an admin and three validators and print their passwords."
    )

    def add_arguments(self, parser):
        parser.add_argument("--catalogue", help="a catalogue folder (default: generated demo)")
        parser.add_argument("--index-shop")
        parser.add_argument("--query-shop")
        add_shop_arguments(
            parser, plural="train-shops", single="train-shop", what="training shops (default: all)"
        )
        parser.add_argument("--cutoff", type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
        parser.add_argument("--validators", type=int, default=3)
        parser.add_argument("--products", type=int, default=120, help="size of the generated demo")
        parser.add_argument("--image-encoder", default=DEFAULT_IMAGE_ENCODER)
        parser.add_argument("--text-encoder", default=DEFAULT_TEXT_ENCODER)

    def handle(self, *args, **options):
        catalogue = options["catalogue"]
        plan = {
            "index_shop": options["index_shop"],
            "query_shop": options["query_shop"],
            "train_shops": shops_from(options, plural="train-shops", single="train-shop"),
            "cutoff": options["cutoff"],
        }
        if catalogue is None:
            folder = Path(settings.VAR_DIR) / demo_catalogue.DEMO_FOLDER_NAME
            if not (folder / "offers.csv").is_file():
                demo_catalogue.generate_demo_catalogue(
                    directory=folder, n_products=options["products"]
                )
            catalogue = folder
            self.stdout.write(f"generated a synthetic demo catalogue in {folder}")
            plan = {
                "index_shop": plan["index_shop"] or demo_catalogue.INDEX_SHOP,
                "query_shop": plan["query_shop"] or demo_catalogue.QUERY_SHOP,
                "train_shops": plan["train_shops"],
                "cutoff": plan["cutoff"] or demo_catalogue.CUTOFF,
            }
        try:
            run_pipeline(
                catalogue=Path(catalogue),
                plan=plan,
                epochs=options["epochs"],
                say=self.stdout.write,
            )
        except (CatalogueError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            if options["catalogue"] is None:  # generated here: the UI labels it synthetic
                mark_shops_synthetic(names=demo_catalogue.SHOP_NAMES)
        admin_password = ensure_account(username="admin", group="Admins", superuser=True)
        lines = [f"  admin        password {admin_password}"]
        for number in range(1, options["validators"] + 1):
            name = f"validator{number}"
            lines.append(
                f"  {name:<12} password {ensure_account(username=name, group='Validators')}"
            )
        self.stdout.write("accounts (passwords are new on every run):\n" + "\n".join(lines))
        self.stdout.write(
            "open http://127.0.0.1:8000/ and log in; validators land on the review page"
        )
