"""Shared helpers of the encoder towers: the error, seeded random init, offline hub, checksums."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import torch

RANDOM_INIT_SEED = 0


class EncoderUnavailable(RuntimeError):
    """The encoder cannot be built here (unknown spec, weights not available locally, ...)."""


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over the state dict: names, dtypes, shapes and raw bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@contextlib.contextmanager
def seeded(seed: int = RANDOM_INIT_SEED) -> Iterator[None]:
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


def autocast(device: str) -> contextlib.AbstractContextManager[Any]:
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def split_spec(spec: str, prefix: str) -> tuple[str, str | None]:
    """``"prefix:model[:rest]"`` -> ``(model, rest or None)``."""
    body = spec[len(prefix) + 1 :]
    model, _, rest = body.partition(":")
    if not model:
        raise EncoderUnavailable(f"spec {spec!r} names no model ({prefix}:<model>[:...])")
    return model, rest or None
