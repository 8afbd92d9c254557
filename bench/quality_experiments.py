"""Matching-quality experiments on cached raw embeddings (no database, no re-encoding).

    .venv/bin/python bench/quality_experiments.py prepare [--datasets xshop,abt,wa]
    .venv/bin/python bench/quality_experiments.py run [--datasets xshop,abt,wa] [--configs ...]

``prepare`` reads each catalogue's offers.csv, computes every offer's content hash as the importer
does (``matching.catalogue.content_hash``: text, price, sizes, image sha256s) and looks the raw
vectors up in the benchmark's embedding cache (``--embedding-cache``, default
/tmp/fashionid-embcache, written by ``manage.py benchmark --embedding-cache``). Text vectors
missing from the cache are encoded here (MiniLM is cheap); image vectors are never encoded here
(too slow on CPU): offers whose image vector is not cached yet are reported, and image configs are
skipped until the cache is full. The result is one .npz bundle per data set in ``--workdir``
(default /tmp/fashionid-qe).

``run`` trains and evaluates configs with the library (matching.ml) exactly as the services do
(features -> assemble_features -> train_projection -> head.project -> retrieval.search with brand
blocking -> metrics) and prints one table: xshop in-domain (boulevard) and out-of-domain (dune)
AUCPR@1 / R@1, abt-buy and walmart-amazon best F1 / AUCPR. Train/test splits follow the
protocols (PROTOCOL.md, data README); product ids are used for training labels and evaluation
only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = Path("/work/shared/data/bench")
DATASETS = {
    # name: (folder, train shops, index shop, query shops, cutoff)
    "xshop": ("fashion-xshop-dev", ("atelier", "boulevard", "corso"), "atelier",
              ("boulevard", "dune"), "2025-07-01"),
    "abt": ("abt-buy", ("abt", "buy"), "buy", ("abt",), "2021-01-01"),
    "wa": ("walmart-amazon", ("walmart", "amazon"), "amazon", ("walmart",), "2021-01-01"),
}  # fmt: skip
IMAGE_SPEC_DIM = ("image", "efficientnet-lite0", 1280)
TEXT_SPEC_DIM = ("text", "minilm", 384)


def _cache_folders(cache_dir: Path, kind: str, spec: str, dim: int) -> list[Path]:
    out = []
    for enc in cache_dir.glob("*/encoder.txt"):
        lines = enc.read_text().split("\n")
        if lines[0] == kind and lines[1] == spec and int(lines[3]) == dim:
            out.append(enc.parent)
    return out


def _cache_read(folders: list[Path], wanted: set[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for folder in folders:
        for file in sorted(folder.glob("*.npz")):
            if file.name.startswith("."):
                continue
            with np.load(file, allow_pickle=False) as data:
                keys = data["hashes"]
                hit = np.flatnonzero(np.isin(keys, list(wanted)))
                if not len(hit):
                    continue
                vectors = data["vectors"][hit].astype(np.float32)
                flags = data["has_content"][hit]
                for j, k in enumerate(keys[hit]):
                    found[str(k)] = vectors[j] if flags[j] else np.zeros_like(vectors[j])
    return found


def prepare(name: str, *, cache_dir: Path, workdir: Path) -> Path:
    from matching.catalogue import CatalogueRow, content_hash, read_catalogue
    from matching.ml.features import normalise_text, numeric_vector

    folder = DATA / DATASETS[name][0]
    rows = [r for r in read_catalogue(folder) if isinstance(r, CatalogueRow)]
    texts, hashes = [], []
    checksum_cache: dict[str, str] = {}
    for r in rows:
        text = normalise_text(r.brand, r.title)
        sums = []
        for img in r.images:
            if img not in checksum_cache:
                checksum_cache[img] = hashlib.sha256((folder / img).read_bytes()).hexdigest()
            sums.append(checksum_cache[img])
        texts.append(text)
        hashes.append(content_hash(text=text, price=r.price, sizes=r.sizes, checksums=sums))
    wanted = set(hashes)
    out: dict[str, np.ndarray] = {
        "shop": np.array([r.shop for r in rows]),
        "brand": np.array([r.brand for r in rows]),
        "text": np.array(texts),
        "category": np.array([r.category for r in rows]),
        "created": np.array([r.created_at.isoformat() if r.created_at else "" for r in rows]),
        "product_id": np.array([r.product_id or "" for r in rows]),
        "numeric_raw": np.stack(
            [
                numeric_vector(
                    sizes=r.sizes or None, price=float(r.price) if r.price is not None else None
                )
                for r in rows
            ]
        ),
        "hashes": np.array(hashes),
        "image_paths": np.array(["|".join(str(folder / i) for i in r.images) for r in rows]),
    }
    # text: cache, else encode here
    text_found = _cache_read(_cache_folders(cache_dir, *TEXT_SPEC_DIM), wanted)
    old = workdir / f"{name}.npz"
    if old.is_file():  # texts encoded by an earlier `prepare`
        with np.load(old, allow_pickle=False) as prev:
            for h, v in zip(prev["hashes"], prev["text_emb"], strict=True):
                text_found.setdefault(str(h), v)
    missing = [i for i, h in enumerate(hashes) if h not in text_found]
    text = np.zeros((len(rows), TEXT_SPEC_DIM[2]), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in text_found:
            text[i] = text_found[h]
    if missing:
        from matching.ml.encoders import create_text_encoder

        t = time.perf_counter()
        enc = create_text_encoder("minilm", device="cpu")
        text[missing] = enc.encode_texts([texts[i] for i in missing])
        print(f"{name}: encoded {len(missing)} texts in {time.perf_counter() - t:.0f} s")
    out["text_emb"] = text
    if any(r.images for r in rows):
        img_found = _cache_read(_cache_folders(cache_dir, *IMAGE_SPEC_DIM), wanted)
        image = np.zeros((len(rows), IMAGE_SPEC_DIM[2]), dtype=np.float32)
        have = np.zeros(len(rows), dtype=bool)
        for i, h in enumerate(hashes):
            if h in img_found:
                image[i], have[i] = img_found[h], True
        print(f"{name}: image vectors cached for {have.sum()}/{len(rows)} offers")
        out["image_emb"], out["image_cached"] = image, have
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}.npz"
    np.savez(path, **out)
    print(f"{name}: {len(rows)} offers -> {path}")
    return path


# ------------------------------------------------------------------------------------------
# experiments


@dataclass(frozen=True)
class Exp:
    name: str
    features: tuple[str, ...]
    train: dict  # TrainConfig overrides
    search: dict  # retrieval.search overrides
    raw: bool = False


def _load(workdir: Path, name: str) -> dict:
    with np.load(workdir / f"{name}.npz", allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def evaluate_split(
    q_vec, i_vec, q_pid, i_pid, q_brand, i_brand, q_text=None, i_text=None, *, k=3, search_kw=None
):
    from matching.ml import metrics, retrieval

    search_kw = dict(search_kw or {})
    if search_kw.pop("texts", False):
        search_kw["query_texts"], search_kw["index_texts"] = list(q_text), list(i_text)
    res = retrieval.search(
        query_vecs=q_vec,
        index_vecs=i_vec,
        k=k,
        query_brands=list(q_brand),
        index_brands=list(i_brand),
        **search_kw,
    )
    pos: dict[str, set[int]] = {}
    for j, p in enumerate(i_pid):
        if p:
            pos.setdefault(p, set()).add(j)
    relevant = [pos.get(p, set()) if p else set() for p in q_pid]
    n_with = sum(bool(r) for r in relevant)
    top1 = res.indices[:, 0]
    correct = np.array([int(t) in r for t, r in zip(top1, relevant, strict=True)])
    p, r, t = metrics.pr_curve_at_1(
        top1_similarity=res.similarities[:, 0], top1_correct=correct, n_with_match=n_with
    )
    f1, _ = metrics.best_f1(p, r, t)
    true_pairs = [(q, j) for q, rel in enumerate(relevant) for j in rel]
    return {
        "AUCPR": metrics.aucpr(p, r),
        "R@1": metrics.recall_at_k(retrieved=res.indices, relevant=relevant, k=1),
        "R@3": metrics.recall_at_k(retrieved=res.indices, relevant=relevant, k=3),
        "F1": f1,
        "block_recall": retrieval.blocking_recall(
            query_brands=list(q_brand), index_brands=list(i_brand), true_pairs=true_pairs
        ),
    }


_VECTORS: dict[tuple, np.ndarray] = {}


def run_dataset(name: str, d: dict, exp: Exp, *, seed: int = 0) -> dict[str, dict]:
    from matching.ml.features import NumericScaler
    from matching.ml.projection import assemble_features
    from matching.ml.training import TrainConfig, train_projection

    _, train_shops, index_shop, query_shops, cutoff = DATASETS[name]
    feats = tuple(f for f in exp.features if f != "image" or "image_emb" in d)
    if "image" in exp.features and "image_emb" not in d:
        return {}
    shop, created, pid = d["shop"], d["created"], d["product_id"]
    train = np.isin(shop, train_shops) & (created < cutoff)
    test = created >= cutoff
    raw_num = d["numeric_raw"]
    scaler = NumericScaler.fit(raw_num[train] if not exp.raw else raw_num[test])
    train_kw = dict(exp.train)
    weights = {
        b: train_kw.pop(f"w_{b}") for b in ("image", "text", "numeric") if f"w_{b}" in train_kw
    }
    x = assemble_features(
        image=d.get("image_emb"),
        text=d["text_emb"],
        numeric=scaler.transform(raw_num),
        features=list(feats),
    )
    if weights:  # per-block input scaling (experiment)
        widths = {"image": 1280, "text": 384, "numeric": 5}
        start = 0
        for b in ("image", "text", "numeric"):
            if b in feats:
                x[:, start : start + widths[b]] *= weights.get(b, 1.0)
                start += widths[b]
    key = (name, feats, tuple(sorted(exp.train.items())), exp.raw, seed)
    if key in _VECTORS:  # same trained model, other search settings
        vec = _VECTORS[key]
    elif exp.raw:
        vec = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    else:
        cfg = replace(TrainConfig(seed=seed), **train_kw)
        tr = np.flatnonzero(train)
        result = train_projection(
            features=x[tr], product_ids=[p or None for p in pid[tr]], config=cfg
        )
        vec = result.head.project(x)
    _VECTORS[key] = vec
    out = {}
    idx = np.flatnonzero((shop == index_shop) & test)
    for qs in query_shops:
        q = np.flatnonzero((shop == qs) & test)
        out[qs] = evaluate_split(
            vec[q], vec[idx], pid[q], pid[idx], d["brand"][q], d["brand"][idx],
            d["text"][q], d["text"][idx], search_kw=exp.search,
        )  # fmt: skip
    return out


def parse_exp(spec: str) -> Exp:
    """``name=kind:features[@train k=v;...][#search k=v;...]``, e.g.
    ``proj:image+text+numeric@batch_size=1024;lr=3e-3#rescore=none``."""
    head, _, srch = spec.partition("#")
    head, _, trn = head.partition("@")
    kind, _, feats = head.partition(":")

    def kv(s: str) -> dict:
        out = {}
        for item in filter(None, s.split(";")):
            k, _, v = item.partition("=")
            try:
                out[k] = int(v)
            except ValueError:
                try:
                    out[k] = float(v)
                except ValueError:
                    out[k] = {"none": None, "true": True, "false": False}.get(v, v)
        return out

    return Exp(spec, tuple(feats.split("+")), kv(trn), kv(srch), raw=kind == "raw")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["prepare", "run"])
    parser.add_argument("--datasets", default="xshop,abt,wa")
    parser.add_argument("--embedding-cache", default="/tmp/fashionid-embcache")  # noqa: S108
    parser.add_argument("--workdir", default="/tmp/fashionid-qe")  # noqa: S108
    parser.add_argument("--configs", nargs="*", default=None)
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    names = args.datasets.split(",")
    workdir = Path(args.workdir)
    if args.action == "prepare":
        for n in names:
            prepare(n, cache_dir=Path(args.embedding_cache), workdir=workdir)
        return
    import torch

    torch.set_num_threads(2)
    data = {n: _load(workdir, n) for n in names}
    configs = args.configs or [
        # before: plain cosine top-k, the paper's batch 16384 / lr 1e-3
        "proj:image+text+numeric@batch_size=16384;lr=0.001#one_to_one=false",
        # library defaults (batch 1024, lr 3e-3, one-to-one), vectors only (services as wired)
        "proj:image+text+numeric",
        # + sparse text similarity (needs texts passed to retrieval.search)
        "proj:image+text+numeric#texts=true",
    ]
    seeds = [int(s) for s in args.seeds.split(",")]
    cols = [("xshop", "boulevard"), ("xshop", "dune"), ("abt", "abt"), ("wa", "walmart")]
    cols = [c for n in names for c in cols if c[0] == n]
    print("| config | seed | " + " | ".join(f"{q} AUCPR | {q} R@1 | {q} F1" for _, q in cols))
    for spec in configs:
        exp = parse_exp(spec)
        for seed in seeds:
            row = [spec, str(seed)]
            blocking = []
            t = time.perf_counter()
            for n in names:
                data_n = data[n]
                feats = exp.features
                if n != "xshop":
                    feats = tuple(f for f in feats if f != "image")
                res = run_dataset(n, data_n, replace(exp, features=feats), seed=seed)
                for dn, q in cols:
                    if dn == n:
                        m = res.get(q)
                        if m:
                            blocking.append(f"{q} {m['block_recall']:.3f}")
                        row += (
                            [f"{100 * m['AUCPR']:.1f}", f"{100 * m['R@1']:.1f}",
                             f"{100 * m['F1']:.1f}"]
                            if m else ["-", "-", "-"]
                        )  # fmt: skip
            tail = f" | ({time.perf_counter() - t:.0f} s; blocking recall {', '.join(blocking)})"
            print("| " + " | ".join(row) + tail, flush=True)


if __name__ == "__main__":
    main()
