"""Device choice shared by encoders, training and retrieval."""

from __future__ import annotations

import torch


def resolve_device(device: str | None) -> str:
    """``device`` if given, else ``"cuda"`` when available, else ``"cpu"``."""
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"
