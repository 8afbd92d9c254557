from django.core.management.base import BaseCommand, CommandError

from matching import selectors
from matching.embedding_store import EncoderNotFound, MissingEmbeddings
from matching.management.commands._matching_args import (
    add_shop_arguments,
    add_training_arguments,
    date_arg,
    shops_from,
    spec_arg,
)
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.features import parse_features
from matching.ml.training import TrainConfig
from matching.models import Shop
from matching.services import training


class Command(BaseCommand):
    help = (
        "Train a projection head (linear, or MLP with --hidden 256) with the supervised "
        "contrastive loss on offers of the training shops created before --before. "
        "Embeddings must have been computed with `encode`."
    )

    def add_arguments(self, parser):
        d = TrainConfig()
        add_shop_arguments(parser, plural="train-shops", single="train-shop", what="training shops")
        parser.add_argument("--before", help="only offers created before this date (YYYY-MM-DD)")
        parser.add_argument("--features", default="image,text,numeric")
        add_training_arguments(parser)
        parser.add_argument(
            "--labels",
            default=",".join(d.labels),
            help="label sources, comma-separated: product_ids (the catalogue's), verdicts "
            "(pairs validators accepted = positives, rejected candidates = hard negatives, "
            "product clusters; human decisions only). Default: product_ids",
        )
        parser.add_argument(
            "--min-gold-accuracy",
            type=float,
            default=None,
            help="with verdicts: only review rows whose validators all reach this accuracy on "
            "gold rows (e.g. 0.9); default: every decided row",
        )
        parser.add_argument("--hidden", type=int, default=d.hidden, help="0 = linear")
        parser.add_argument("--device", help="cpu, cuda ... (default: cuda if present)")
        parser.add_argument("--name", default="")
        parser.add_argument("--image-encoder", default=DEFAULT_IMAGE_ENCODER)
        parser.add_argument("--text-encoder", default=DEFAULT_TEXT_ENCODER)
        parser.add_argument("--enqueue", action="store_true", help="run as a job on `default`")

    def handle(self, *args, **o):
        try:
            config = TrainConfig(
                dim=o["dim"], hidden=o["hidden"], epochs=o["epochs"], batch_size=o["batch_size"],
                lone_share=o["lone_share"], temperature=o["temperature"], lr=o["lr"],
                patience=o["patience"], seed=o["seed"], device=o["device"],
                calibration_share=o["calibration_share"], labels=o["labels"],
                discriminator_folds=o["discriminator_folds"],
                min_gold_accuracy=o["min_gold_accuracy"],
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        kwargs = {
            "train_shops": shops_from(o, plural="train-shops", single="train-shop", required=True),
            "before": date_arg(o["before"]),
            "features": o["features"],
            "image_spec": spec_arg(o["image_encoder"]),
            "text_spec": spec_arg(o["text_encoder"]),
            "name": o["name"],
        }
        try:
            parse_features(o["features"])
            if o["enqueue"]:
                from matching.jobs import enqueue_training

                handle = enqueue_training(config=config.to_dict(), **kwargs)
                if not handle.ran_inline:
                    self.stdout.write(f"enqueued training job {handle.job_id} on `default`")
                    return
                model = selectors.model_by_ref(handle.result)
            else:

                def progress(r):
                    if o["verbosity"] >= 1:
                        self.stderr.write(
                            f"epoch {r['epoch']:3d}  loss {r['loss']:.4f}  val R@1 "
                            f"{r['val_r1']:.3f}  R@3 {r['val_r3']:.3f}  {r['seconds']:.2f} s"
                        )

                model = training.train_projection(config=config, progress=progress, **kwargs)
        except (ValueError, Shop.DoesNotExist, EncoderNotFound, MissingEmbeddings) as exc:
            raise CommandError(str(exc)) from None
        m = model.metrics
        self.stdout.write(
            f"projection model #{model.pk} ({model.features}, dim {config.dim}, hidden "
            f"{config.hidden}): {model.n_train_offers} offers, {model.n_train_products} products;"
            f" best epoch {m['best_epoch']}/{m['epochs_run']}: val R@1 {m['val_R@1']}, "
            f"R@3 {m['val_R@3']}; {m['seconds_per_epoch']:.2f} s/epoch; "
            f"{m.get('calibration', 'not calibrated')}"
        )
        self.stdout.write(f"labels: {model.labels_summary}; {_counts(model.label_sources)}")


def _counts(report: dict) -> str:
    skip = {"sources", "min_gold_accuracy"}
    return ", ".join(f"{k} {v}" for k, v in report.items() if k not in skip)
