import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from matching import benchmark, benchmark_configs, benchmark_loo
from matching.management.commands._matching_args import (
    Bar,
    add_match_arguments,
    add_shop_arguments,
    add_training_arguments,
    date_arg,
    match_config_from_options,
    shops_from,
    spec_arg,
)
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.match_config import MatchConfig
from matching.ml.training import TrainConfig

CHILD_ENV = "FASHIONID_BENCHMARK_CHILD"
REPORT_ENV = "FASHIONID_BENCHMARK_REPORT"

# options handed on to the child process, as (dest, flag)
PASSED = [
    ("index_shop", "--index-shop"), ("cutoff", "--cutoff"), ("configs", "--configs"),
    ("image_encoder", "--image-encoder"), ("text_encoder", "--text-encoder"),
    ("embedding_cache", "--embedding-cache"), ("batch_sizes", "--batch-sizes"),
    ("lone_shares", "--lone-shares"), ("dims", "--dims"),
    ("ablation_features", "--ablation-features"), ("epochs", "--epochs"),
    ("batch_size", "--batch-size"), ("dim", "--dim"), ("lone_share", "--lone-share"),
    ("lr", "--lr"), ("temperature", "--temperature"), ("patience", "--patience"),
    ("seed", "--seed"), ("calibration_share", "--calibration-share"),
    ("discriminator_folds", "--discriminator-folds"),
]  # fmt: skip
# shop lists go to the child one name per flag (names may contain commas)
SHOP_LISTS = [("train-shops", "train-shop"), ("query-shops", "query-shop")]


def _numbers(value, cast):
    return [cast(v) for v in value.split(",") if v.strip()] if value else []


class Command(BaseCommand):
    help = (
        "Benchmark (paper Table 3): import CATALOGUE into an isolated, temporary database, "
        "encode, train each config on offers created before --cutoff in the training shops, "
        "and match each query shop against the index shop on offers created on or after it."
    )

    def add_arguments(self, parser):
        parser.add_argument("catalogue", help="catalogue folder (offers.csv + images)")
        add_shop_arguments(parser, plural="train-shops", single="train-shop", what="training shops")
        parser.add_argument("--index-shop", required=True, help="one shop name (commas allowed)")
        add_shop_arguments(parser, plural="query-shops", single="query-shop", what="query shops")
        parser.add_argument("--cutoff", required=True, help="YYYY-MM-DD")
        parser.add_argument(
            "--configs",
            help="comma-separated, e.g. raw:image,proj:image+text+numeric,mlp:text "
            "(default: every config the catalogue supports)",
        )
        parser.add_argument(
            "--leave-one-shop-out",
            action="store_true",
            help="for each query shop other than the index shop: train without that shop and "
            "test on it; per shop, mean and worst, raw image+text next to each config "
            "(--configs default: `default`)",
        )
        parser.add_argument("--json", help="write {config: {query_shop: {R@1,R@3,AUCPR}}}")
        parser.add_argument("--report", help="write the full report (metrics, models, timings)")
        parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
        parser.add_argument("--image-encoder", default=DEFAULT_IMAGE_ENCODER)
        parser.add_argument("--text-encoder", default=DEFAULT_TEXT_ENCODER)
        parser.add_argument(
            "--embedding-cache",
            help="folder reused across runs: raw embeddings keyed by encoder + offer content",
        )
        parser.add_argument("--batch-sizes", help="ablation: batch-size sweep, e.g. 256,1024")
        parser.add_argument("--lone-shares", help="ablation: lone-offer shares, e.g. 0,0.5,1")
        parser.add_argument("--dims", help="ablation: output dims, e.g. 32,64,192,512")
        parser.add_argument(
            "--ablation-features", help="features of the ablation sweeps (default: all there)"
        )
        add_training_arguments(parser)
        add_match_arguments(parser)
        parser.add_argument("--match-config", help=argparse.SUPPRESS)  # JSON, parent -> child
        parser.add_argument("--workdir", help="where the isolated database goes (kept)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        if os.environ.get(CHILD_ENV) == "1":
            return self._child(o)
        return self._parent(o)

    # -------------------------------------------------------------------- parent process

    def _parent(self, o):
        catalogue = Path(o["catalogue"]).resolve()
        if not (catalogue / "offers.csv").is_file():
            raise CommandError(f"{catalogue}: no offers.csv")
        date_arg(o["cutoff"])
        shops = {
            single: shops_from(o, plural=plural, single=single, required=True)
            for plural, single in SHOP_LISTS
        }
        match_config = match_config_from_options(o)
        keep = bool(o["workdir"])
        work = Path(o["workdir"] or tempfile.mkdtemp(prefix="fashionid-bench-")).resolve()
        work.mkdir(parents=True, exist_ok=True)
        report_path = work / "report.json"
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
        env.update(
            {
                CHILD_ENV: "1",
                REPORT_ENV: str(report_path),
                "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
                "MEDIA_ROOT": str(work / "media"),
                "FASHIONID_VAR_DIR": str(work),
            }
        )
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "benchmark"]
        command.append(str(catalogue))
        for dest, flag in PASSED:
            value = o.get(dest)
            if value is not None:
                if dest == "embedding_cache":
                    value = str(Path(value).resolve())
                command += [flag, str(value)]
        for single, names in shops.items():
            for name in names:
                command += [f"--{single}", name]
        command += ["--match-config", json.dumps(match_config.to_dict())]
        if o["no_progress"]:
            command.append("--no-progress")
        if o["leave_one_shop_out"]:
            command.append("--leave-one-shop-out")
        try:
            with subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, text=True, cwd=settings.BASE_DIR
            ) as child:
                assert child.stdout is not None
                for line in child.stdout:
                    self.stdout.write(line.rstrip("\n"))
            if child.returncode != 0:
                raise CommandError(f"benchmark failed (exit {child.returncode}); see above")
            report = json.loads(report_path.read_text())
        finally:
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
        self.stdout.write("")
        formatter = benchmark_loo if report.get("leave_one_shop_out") else benchmark
        self.stdout.write(formatter.format_table(report, markdown=o["markdown"]))
        if o["json"]:
            Path(o["json"]).write_text(json.dumps(formatter.json_summary(report), indent=2))
        if o["report"]:
            Path(o["report"]).write_text(json.dumps(report, indent=2))

    # -------------------------------------------------------------------- child process

    def _child(self, o):
        from matching.catalogue_import import import_catalogue

        work = Path(os.environ[REPORT_ENV]).parent
        db = Path(settings.DATABASES["default"]["NAME"]).resolve()
        if work not in db.parents:  # never touch a real database
            raise CommandError(f"refusing to benchmark in {db}: not an isolated database")
        call_command("migrate", verbosity=0)
        log = self.stdout.write
        batch = import_catalogue(directory=o["catalogue"])
        log(
            f"imported {batch.n_imported} offers ({batch.n_images} images, "
            f"{batch.n_rejected} rejected) in {batch.seconds:.1f} s"
        )
        match_config = (
            MatchConfig.from_dict(json.loads(o["match_config"]))
            if o["match_config"]
            else match_config_from_options(o)
        )
        base = TrainConfig(
            dim=o["dim"], epochs=o["epochs"], batch_size=o["batch_size"],
            lone_share=o["lone_share"], lr=o["lr"], temperature=o["temperature"],
            patience=o["patience"], seed=o["seed"], calibration_share=o["calibration_share"],
            discriminator_folds=o["discriminator_folds"],
        )  # fmt: skip
        configs = benchmark_configs.split_configs(o["configs"]) if o["configs"] else None
        ablations = benchmark_configs.ablation_configs(
            features=o["ablation_features"] or "",
            batch_sizes=_numbers(o["batch_sizes"], int),
            lone_shares=_numbers(o["lone_shares"], float),
            dims=_numbers(o["dims"], int),
        )
        from matching.models import OfferImage

        if ablations:
            if not o["ablation_features"]:
                feats = "image+text+numeric" if OfferImage.objects.exists() else "text+numeric"
                ablations = [a.replace("proj:@", f"proj:{feats}@") for a in ablations]
            if configs is None:
                configs = benchmark_configs.default_configs(has_images=OfferImage.objects.exists())
            configs = configs + ablations
        bar = Bar(disable=o["no_progress"])
        runner = benchmark.run_benchmark
        if o["leave_one_shop_out"]:
            runner = benchmark_loo.run_leave_one_shop_out
        try:
            report = runner(
                train_shops=shops_from(o, plural="train-shops", single="train-shop", required=True),
                index_shop=o["index_shop"],
                query_shops=shops_from(o, plural="query-shops", single="query-shop", required=True),
                cutoff=date_arg(o["cutoff"]) or dt.date.today(),
                configs=configs,
                base_config=base,
                image_spec=spec_arg(o["image_encoder"]),
                text_spec=spec_arg(o["text_encoder"]),
                match_config=match_config,
                cache_dir=o["embedding_cache"],
                log=log,
                progress=bar,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        report["import_seconds"] = batch.seconds
        Path(os.environ[REPORT_ENV]).write_text(json.dumps(report, indent=2, default=str))
