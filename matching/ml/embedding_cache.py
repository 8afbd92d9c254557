"""The on-disk embedding cache: raw vectors keyed by encoder and offer content hash.

Layout: ``<cache dir>/<24 hex of sha256(kind|spec|weights checksum)>/`` holds ``encoder.txt``
(kind, spec, weights checksum, dim; one per line) and any number of ``<uuid>.npz`` files with
``hashes`` (content hashes), ``vectors`` (float16) and ``has_content`` (bool). Written by
``encode --cache-dir`` / ``benchmark --embedding-cache`` (through
:mod:`matching.embedding_store`) and read there and by ``bench/quality_experiments.py``, which
knows an encoder by kind, spec and dim only. Plain files, no Django.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENCODER_FILE = "encoder.txt"


@dataclass(frozen=True)
class CachedEncoder:
    kind: str
    spec: str
    weights_checksum: str
    dim: int

    def to_text(self) -> str:
        return f"{self.kind}\n{self.spec}\n{self.weights_checksum}\n{self.dim}\n"

    @classmethod
    def from_text(cls, text: str) -> CachedEncoder:
        kind, spec, checksum, dim = text.split("\n")[:4]
        return cls(kind=kind, spec=spec, weights_checksum=checksum, dim=int(dim))


def folder_for(cache_dir: Path | str, *, kind: str, spec: str, weights_checksum: str) -> Path:
    key = hashlib.sha256(f"{kind}|{spec}|{weights_checksum}".encode())
    return Path(cache_dir) / key.hexdigest()[:24]


def folders_matching(
    cache_dir: Path | str, *, kind: str, spec: str, dim: int | None = None
) -> list[Path]:
    """Cache folders of an encoder known by kind and spec (any weights checksum)."""
    out = []
    for file in sorted(Path(cache_dir).glob(f"*/{ENCODER_FILE}")):
        enc = CachedEncoder.from_text(file.read_text())
        if enc.kind == kind and enc.spec == spec and (dim is None or enc.dim == dim):
            out.append(file.parent)
    return out


def lookup(
    folders: Iterable[Path], content_hashes: Iterable[str]
) -> dict[str, tuple[np.ndarray, bool]]:
    """content hash -> (vector float32, has_content) for the hashes found in these folders."""
    wanted = list(set(content_hashes))
    found: dict[str, tuple[np.ndarray, bool]] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob("*.npz")):
            if file.name.startswith("."):  # a file still being written
                continue
            with np.load(file, allow_pickle=False) as data:
                keys = data["hashes"]
                hit = np.flatnonzero(np.isin(keys, wanted))
                if not len(hit):
                    continue
                vectors = data["vectors"][hit].astype(np.float32)
                flags = data["has_content"][hit]
                for j, k in enumerate(keys[hit]):
                    found[str(k)] = (vectors[j], bool(flags[j]))
    return found


def store(
    folder: Path,
    encoder: CachedEncoder,
    content_hashes: Sequence[str],
    vectors: np.ndarray,
    has_content: Sequence[bool],
) -> None:
    """Add one file of vectors to an encoder's cache folder (atomically renamed into place)."""
    if not len(content_hashes):
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ENCODER_FILE).write_text(encoder.to_text())
    target = folder / f"{uuid.uuid4().hex}.npz"
    temporary = folder / f".{target.stem}.tmp.npz"
    np.savez(
        temporary,
        hashes=np.asarray(content_hashes, dtype="U64"),
        vectors=np.asarray(vectors, dtype=np.float16),
        has_content=np.asarray(has_content, dtype=bool),
    )
    temporary.replace(target)
