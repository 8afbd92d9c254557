from django.core.management.base import BaseCommand, CommandError

from matching import services
from matching.embedding_store import EncoderNotFound, MissingEmbeddings
from matching.management.commands._matching_args import date_arg, spec_arg
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.models import ProjectionModel, Shop


def _threshold(value: str) -> float | None:
    return None if value.strip().lower() in {"none", "off", ""} else float(value)


class Command(BaseCommand):
    help = (
        "Find each query-shop offer's top-k neighbours in the index shop (brand-blocked FAISS "
        "search) and store them as a match run with metrics and a PR plot."
    )

    def add_arguments(self, parser):
        parser.add_argument("--query-shop", required=True)
        parser.add_argument("--index-shop", required=True)
        parser.add_argument("--since", help="only offers created on or after (both shops)")
        parser.add_argument("--model", default="raw", help="projection model id, latest, or raw")
        parser.add_argument(
            "--features", help="for raw: e.g. image,text,numeric (default: the model's / all)"
        )
        parser.add_argument("--k", type=int, default=3)
        parser.add_argument(
            "--brand-threshold",
            type=_threshold,
            default=services.DEFAULT_BRAND_THRESHOLD,
            help="rapidfuzz token-set similarity 0-100 of brand keys; 'none': no blocking",
        )
        parser.add_argument("--index-type", choices=["flat", "ivf", "hnsw"], default="flat")
        parser.add_argument(
            "--no-one-to-one",
            action="store_true",
            help="plain top-k (default: greedy one-to-one assignment of rank 1)",
        )
        parser.add_argument(
            "--text-weight",
            type=float,
            default=None,
            help="mix in TF-IDF text similarity (0-1); default: 0.5 without images, 0 with",
        )
        parser.add_argument("--rescore", choices=["none", "csls"], default="none")
        parser.add_argument("--image-encoder", default=DEFAULT_IMAGE_ENCODER)
        parser.add_argument("--text-encoder", default=DEFAULT_TEXT_ENCODER)
        parser.add_argument("--enqueue", action="store_true", help="run as a job on `default`")

    def handle(self, *args, **o):
        kwargs = {
            "query_shop": o["query_shop"],
            "index_shop": o["index_shop"],
            "since": date_arg(o["since"]),
            "model": None if o["model"] == "raw" else o["model"],
            "features": o["features"],
            "k": o["k"],
            "brand_threshold": o["brand_threshold"],
            "index_type": o["index_type"],
            "image_spec": spec_arg(o["image_encoder"]),
            "text_spec": spec_arg(o["text_encoder"]),
            "one_to_one": not o["no_one_to_one"],
            "text_weight": o["text_weight"],
            "rescore": o["rescore"],
        }
        try:
            if o["enqueue"]:
                from matching.jobs import enqueue_match

                handle = enqueue_match(**kwargs)
                if not handle.ran_inline:
                    self.stdout.write(f"enqueued match job {handle.job_id} on `default`")
                    return
                from matching.models import MatchRun

                run = MatchRun.objects.get(pk=handle.result)
            else:
                run = services.match(**kwargs)
        except (
            ValueError, Shop.DoesNotExist, ProjectionModel.DoesNotExist, EncoderNotFound,
            MissingEmbeddings,
        ) as exc:  # fmt: skip
            raise CommandError(str(exc)) from None
        m = run.metrics

        def pct(key):
            value = m.get(key)
            return "-" if value is None else f"{100 * value:.1f}"

        self.stdout.write(
            f"match run #{run.pk}: {run.query_shop} -> {run.index_shop} "
            f"({'model #' + str(run.model_id) if run.model_id else 'raw'}, {run.features}): "
            f"{run.n_queries} queries ({m['n_queries_with_match']} with a match) x "
            f"{run.n_index} index offers\n"
            f"  AUCPR {pct('AUCPR')}  R@1 {pct('R@1')}  R@3 {pct('R@3')}  best F1 "
            f"{pct('best_F1')}\n"
            f"  blocking recall {pct('blocking_recall')}, comparisons {m['comparisons']:,} of "
            f"{m['comparisons_unblocked']:,} ({pct('comparisons_share')} %); "
            f"{m['seconds']['total']:.2f} s (search {m['seconds']['search']:.2f} s)\n"
            f"  plot: {run.plot_path or '-'}"
        )
