"""Frozen text towers: sentence-transformers models (e.g. the packaged MiniLM), open_clip's
text tower, and any of them on canonical English titles (``canonical:<spec>``). Built by
``encoders.create_text_encoder`` from a spec string."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from .encoder_base import EncoderUnavailable, autocast, hub_offline, split_spec, state_dict_sha256
from .open_clip_weights import open_clip_embed_dim, open_clip_model


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

        name, weights = split_spec(spec, "open_clip")
        clip, _, checksum = open_clip_model(name, weights)
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
        self.dim = open_clip_embed_dim(name)
        self.weights_checksum = checksum
        self.device = device

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        chunks = []
        with torch.inference_mode(), autocast(self.device):
            for start in range(0, len(texts), batch_size):
                tokens = self.tokenizer(texts[start : start + batch_size]).to(self.device)
                chunks.append(self.model.encode_text(tokens).float().cpu().numpy())
        return np.concatenate(chunks)


class CanonicalTextEncoder(TextEncoder):
    """Another text tower on :func:`~matching.ml.text_normalise.canonical_title` text: German and
    French colour, garment, gender and fashion words become English before the (English) tower
    reads them. Spec ``canonical:<inner spec>``; the checksum covers the inner weights and the
    dictionaries, so cached embeddings are not reused after either changes."""

    def __init__(self, *, spec: str, inner: TextEncoder) -> None:
        from .text_normalise import vocabulary_checksum

        self.inner = inner
        self.spec = spec
        self.dim = inner.dim
        self.device = inner.device
        digest = hashlib.sha256(f"{inner.weights_checksum}|{vocabulary_checksum()}".encode())
        self.weights_checksum = digest.hexdigest()

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        from .text_normalise import canonical_title

        return self.inner._encode([canonical_title(t) for t in texts], batch_size=batch_size)
