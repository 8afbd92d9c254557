from django.core.management.base import BaseCommand, CommandError

from matching.embedding_store import MissingEmbeddings
from matching.management.commands._matching_args import (
    Bar,
    add_shop_arguments,
    shops_from,
    spec_arg,
)
from matching.ml.encoder_base import EncoderUnavailable
from matching.ml.encoders import DEFAULT_IMAGE_ENCODER, DEFAULT_TEXT_ENCODER
from matching.models import Shop
from matching.services import encoding


class Command(BaseCommand):
    help = (
        "Compute raw embeddings of offers that have none (or whose content changed) for the "
        "image and text encoders and store them (float16 chunk files under MEDIA_ROOT). "
        "With --enqueue the work goes to the `gpu` queue in chunks shared by its workers."
    )

    def add_arguments(self, parser):
        add_shop_arguments(parser, plural="shops", single="shop", what="shops (default: all)")
        parser.add_argument(
            "--image-encoder",
            default=DEFAULT_IMAGE_ENCODER,
            help=f"image encoder spec, or 'none' (default {DEFAULT_IMAGE_ENCODER})",
        )
        parser.add_argument(
            "--text-encoder",
            default=DEFAULT_TEXT_ENCODER,
            help=f"text encoder spec, or 'none' (default {DEFAULT_TEXT_ENCODER})",
        )
        parser.add_argument("--chunk-size", type=int, default=encoding.DEFAULT_CHUNK_SIZE)
        parser.add_argument("--cache-dir", help="reuse/extend an embedding cache folder")
        parser.add_argument("--workers", type=int, help="image decoding processes (default 2)")
        parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if present)")
        parser.add_argument(
            "--enqueue", action="store_true", help="enqueue chunk jobs on the `gpu` queue"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        shops = shops_from(o, plural="shops", single="shop")
        image_spec, text_spec = spec_arg(o["image_encoder"]), spec_arg(o["text_encoder"])
        try:
            if o["enqueue"]:
                from matching.jobs import enqueue_encoding

                handle = enqueue_encoding(
                    shops=shops, image_spec=image_spec, text_spec=text_spec,
                    chunk_size=o["chunk_size"],
                )  # fmt: skip
                if handle.ran_inline:
                    self.stdout.write(f"no REDIS_URL: encoded inline: {handle.result}")
                else:
                    self.stdout.write(f"enqueued planning job {handle.job_id} on `gpu`")
                return
            bar = Bar(disable=o["no_progress"])
            stats = encoding.encode_offers(
                shops=shops,
                image_spec=image_spec,
                text_spec=text_spec,
                chunk_size=o["chunk_size"],
                progress=bar,
                cache_dir=o["cache_dir"],
                num_workers=o["workers"],
                device=o["device"],
            )
            bar.close()
        except (EncoderUnavailable, Shop.DoesNotExist, MissingEmbeddings) as exc:
            raise CommandError(str(exc)) from None
        for s in stats:
            rate = s.n_encoded / s.seconds if s.seconds and s.n_encoded else 0.0
            self.stdout.write(
                f"{s.encoder.kind} {s.encoder.spec} (encoder #{s.encoder.pk}, dim {s.encoder.dim}):"
                f" {s.n_offers} offers, {s.n_pending} needed encoding: {s.n_encoded} encoded, "
                f"{s.n_from_cache} from cache, {s.n_chunks} chunk(s), {s.seconds:.1f} s"
                f" ({rate:.0f} offers/s)"
            )
