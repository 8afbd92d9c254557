"""open_clip models loaded offline (random init, a local checkpoint or a cached hub tag), shared
by the image and the text tower of one spec."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from .encoder_base import EncoderUnavailable, hub_offline, seeded, state_dict_sha256

LOCAL_WEIGHTS_HINT = (
    "Nothing is downloaded at run time: pass a local checkpoint instead, e.g. "
    "'open_clip:<model>:/path/to/open_clip_pytorch_model.bin', or put the weights in the local "
    "Hugging Face cache beforehand."
)


def open_clip_model(name: str, weights: str | None) -> tuple[torch.nn.Module, Any, str]:
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
        with seeded():
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
                + LOCAL_WEIGHTS_HINT
            )
    try:
        with hub_offline():
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights)
    except Exception as exc:  # open_clip wraps hub errors in RuntimeError
        raise EncoderUnavailable(
            f"open_clip:{name}:{weights}: weights can't be loaded ({exc}). " + LOCAL_WEIGHTS_HINT
        ) from exc
    return model.eval(), preprocess, state_dict_sha256(model)


def open_clip_embed_dim(name: str) -> int:
    import open_clip

    return int(open_clip.get_model_config(name)["embed_dim"])


def save_open_clip_checkpoint(model_name: str, path: str | Path) -> Path:
    """Write the state dict of a randomly initialised (seeded) open_clip model; for tests/demos."""
    clip, _, _ = open_clip_model(model_name, None)
    path = Path(path)
    torch.save(clip.state_dict(), path)
    return path
