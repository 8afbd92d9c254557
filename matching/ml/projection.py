"""The trained projection head, its storage, and the assembly of its input features."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

FEATURE_BLOCKS = ("image", "text", "numeric")


class ProjectionHead(torch.nn.Module):
    """Linear projection (``hidden=0``) or Linear-ReLU-Linear MLP; output is L2-normalised."""

    def __init__(self, in_dim: int, out_dim: int = 192, hidden: int = 0) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.hidden = int(in_dim), int(out_dim), int(hidden)
        if self.hidden > 0:
            self.net: torch.nn.Module = torch.nn.Sequential(
                torch.nn.Linear(self.in_dim, self.hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(self.hidden, self.out_dim),
            )
        else:
            self.net = torch.nn.Linear(self.in_dim, self.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.net(x), dim=-1)

    def config(self) -> dict[str, int]:
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "hidden": self.hidden}

    @torch.inference_mode()
    def project(self, features: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
        """Project a feature matrix (n, in_dim) -> float32 (n, out_dim), on the head's device."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        out = [
            self(torch.as_tensor(features[i : i + batch_size], dtype=torch.float32, device=device))
            .cpu()
            .numpy()
            for i in range(0, len(features), batch_size)
        ]
        self.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.out_dim), dtype=np.float32)


def save_projection(
    head: ProjectionHead, path: str | Path, *, extra: dict[str, Any] | None = None
) -> Path:
    """``torch.save`` of ``{"config", "state_dict", "extra"}``; ``extra`` must be plain data."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in head.state_dict().items()}
    torch.save({"config": head.config(), "state_dict": state, "extra": dict(extra or {})}, path)
    return path


def load_projection(path: str | Path) -> tuple[ProjectionHead, dict[str, Any]]:
    """Inverse of :func:`save_projection`: ``(head on CPU in eval mode, extra)``."""
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    head = ProjectionHead(**blob["config"])
    head.load_state_dict(blob["state_dict"])
    return head.eval(), blob["extra"]


def assemble_features(
    *,
    image: np.ndarray | None,
    text: np.ndarray | None,
    numeric: np.ndarray | None,
    features: Sequence[str],
) -> np.ndarray:
    """Concatenate the selected blocks in the canonical order image, text, numeric (float32).

    Scaling, so that no block dominates the projection's input by its scale alone: image and
    text rows are L2-normalised (a zero row, e.g. an offer without images, stays zero); the
    numeric block (already standardised by ``NumericScaler``) is divided by sqrt(its width), so
    every block has a norm of about 1.
    """
    unknown = set(features) - set(FEATURE_BLOCKS)
    if unknown or not features:
        raise ValueError(f"features must be a non-empty subset of {FEATURE_BLOCKS}, got {features}")
    given = {"image": image, "text": text, "numeric": numeric}
    blocks = []
    for name in FEATURE_BLOCKS:
        if name not in features:
            continue
        block = given[name]
        if block is None:
            raise ValueError(f"feature block {name!r} selected but not given")
        block = np.asarray(block, dtype=np.float32)
        if name == "numeric":
            block = block / math.sqrt(max(block.shape[1], 1))
        else:
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            block = block / np.maximum(norms, 1e-12)
        blocks.append(block)
    if len({b.shape[0] for b in blocks}) != 1:
        raise ValueError("feature blocks have different numbers of rows")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32)
