from django.core.management.base import BaseCommand, CommandError

from matching.embedding_store import EncoderNotFound, MissingEmbeddings
from matching.management.commands._matching_args import (
    add_match_arguments,
    date_arg,
    match_config_from_options,
    spec_arg,
)
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.ml.evaluation import format_pct
from matching.models import ProjectionModel, Shop
from matching.services import matching as matching_service


class Command(BaseCommand):
    help = (
        "Find each query-shop offer's top-k neighbours in the index shop (brand-blocked FAISS "
        "search) and store them as a match run with metrics and a PR plot."
    )

    def add_arguments(self, parser):
        parser.add_argument("--query-shop", required=True, help="one shop name (commas allowed)")
        parser.add_argument("--index-shop", required=True, help="one shop name (commas allowed)")
        parser.add_argument("--since", help="only offers created on or after (both shops)")
        parser.add_argument("--model", default="raw", help="projection model id, latest, or raw")
        parser.add_argument(
            "--features", help="for raw: e.g. image,text,numeric (default: the model's / all)"
        )
        add_match_arguments(parser)
        parser.add_argument("--image-encoder", default=DEFAULT_IMAGE_ENCODER)
        parser.add_argument("--text-encoder", default=DEFAULT_TEXT_ENCODER)
        parser.add_argument(
            "--new-only",
            action="store_true",
            help="only query offers without a valid decision yet (the daily incremental run)",
        )
        parser.add_argument("--enqueue", action="store_true", help="run as a job on `default`")

    def handle(self, *args, **o):
        config = match_config_from_options(o)
        kwargs = {
            "query_shop": o["query_shop"],
            "index_shop": o["index_shop"],
            "since": date_arg(o["since"]),
            "model": None if o["model"] == "raw" else o["model"],
            "features": o["features"],
            "image_spec": spec_arg(o["image_encoder"]),
            "text_spec": spec_arg(o["text_encoder"]),
            "new_only": o["new_only"],
        }
        try:
            if o["enqueue"]:
                from matching.jobs import enqueue_match

                handle = enqueue_match(config=config.to_dict(), **kwargs)
                if not handle.ran_inline:
                    self.stdout.write(f"enqueued match job {handle.job_id} on `default`")
                    return
                from matching.models import MatchRun

                run = MatchRun.objects.get(pk=handle.result)
            else:
                run = matching_service.match(config=config, **kwargs)
        except (
            ValueError, Shop.DoesNotExist, ProjectionModel.DoesNotExist, EncoderNotFound,
            MissingEmbeddings,
        ) as exc:  # fmt: skip
            raise CommandError(str(exc)) from None
        m = run.metrics

        def pct(key):
            return format_pct(m.get(key))

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
