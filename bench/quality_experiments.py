"""Matching-quality experiments on cached raw embeddings (no database, no re-encoding).

    .venv/bin/python bench/quality_experiments.py prepare --data-root DATA [--datasets xshop,abt,wa]
    .venv/bin/python bench/quality_experiments.py run [--datasets xshop,abt,wa] [--configs ...]

``prepare`` reads each catalogue's offers.csv under ``--data-root`` (the folders
fashion-xshop-dev, abt-buy, walmart-amazon; or ``--folder NAME=PATH`` per data set), computes
every offer's content hash as the importer does (``matching.catalogue_rows.content_hash``: text,
price, sizes, image sha256s) and looks the raw vectors up in the benchmark's embedding cache
(``--embedding-cache``, written by ``manage.py benchmark --embedding-cache``;
:mod:`matching.ml.embedding_cache`). Text vectors missing from the cache are encoded here
(MiniLM is cheap); image vectors are never encoded here (too slow on CPU): offers whose image
vector is not cached yet are reported, and image configs are skipped until the cache is full.
The result is one .npz bundle per data set in ``--workdir``.

``run`` trains and evaluates configs with the library (matching.ml) as the services do
(features -> assemble_features -> train_projection -> head.project -> retrieval.search with the
stored brand keys -> matching.ml.evaluation) and prints one table: xshop in-domain (boulevard)
and out-of-domain (dune) AUCPR@1 / R@1 / best F1, abt-buy and walmart-amazon likewise. Configs
use the benchmark's syntax (:mod:`matching.benchmark_configs`), e.g.
``proj:image+text+numeric@bs=1024#one_to_one=false``. Train/test splits follow the protocols
(PROTOCOL.md, data README); product ids are used for training labels and evaluation only.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from matching.benchmark_configs import BenchConfig, parse_config
from matching.ml import embedding_cache
from matching.ml import evaluation as ml_evaluation
from matching.ml.match_config import MatchConfig

DATASETS = {
    # name: (folder, train shops, index shop, query shops, cutoff)
    "xshop": ("fashion-xshop-dev", ("atelier", "boulevard", "corso"), "atelier",
              ("boulevard", "dune"), "2025-07-01"),
    "abt": ("abt-buy", ("abt", "buy"), "buy", ("abt",), "2021-01-01"),
    "wa": ("walmart-amazon", ("walmart", "amazon"), "amazon", ("walmart",), "2021-01-01"),
}  # fmt: skip
IMAGE_SPEC_DIM = ("image", "efficientnet-lite0", 1280)
TEXT_SPEC_DIM = ("text", "minilm", 384)
DEFAULT_CONFIGS = (
    # before: plain cosine top-k, the paper's batch 16384 / lr 1e-3
    "proj:image+text+numeric@bs=16384,lr=0.001#one_to_one=false",
    # library defaults (one-to-one; TF-IDF weight by features), as the services run it
    "proj:image+text+numeric",
    # + sparse text similarity also with images
    "proj:image+text+numeric#text_weight=0.5",
)


def _cached(cache_dir: Path, spec_dim: tuple[str, str, int], hashes: list[str]) -> dict:
    kind, spec, dim = spec_dim
    folders = embedding_cache.folders_matching(cache_dir, kind=kind, spec=spec, dim=dim)
    found = embedding_cache.lookup(folders, hashes)
    return {h: (v if ok else np.zeros_like(v)) for h, (v, ok) in found.items()}


def prepare(name: str, *, folder: Path, cache_dir: Path, workdir: Path) -> Path:
    from matching.catalogue import read_catalogue
    from matching.catalogue_rows import CatalogueRow, content_hash
    from matching.ml.brands import brand_key
    from matching.ml.features import normalise_text, numeric_matrix

    rows = [r for r in read_catalogue(folder) if isinstance(r, CatalogueRow)]
    texts, hashes = [], []
    checksum_cache: dict[str, str] = {}
    for r in rows:
        text = normalise_text(r.brand, r.title)
        for img in r.images:
            if img not in checksum_cache:
                checksum_cache[img] = hashlib.sha256((folder / img).read_bytes()).hexdigest()
        sums = [checksum_cache[img] for img in r.images]
        texts.append(text)
        hashes.append(content_hash(text=text, price=r.price, sizes=r.sizes, checksums=sums))
    out: dict[str, np.ndarray] = {
        "shop": np.array([r.shop for r in rows]),
        "brand_key": np.array([brand_key(r.brand) for r in rows]),
        "text": np.array(texts),
        "category": np.array([r.category for r in rows]),
        "created": np.array([r.created_at.isoformat() if r.created_at else "" for r in rows]),
        "product_id": np.array([r.product_id or "" for r in rows]),
        "numeric_raw": numeric_matrix(rows),
        "hashes": np.array(hashes),
    }
    text_found = _cached(cache_dir, TEXT_SPEC_DIM, hashes)
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
        enc = create_text_encoder(TEXT_SPEC_DIM[1], device="cpu")
        text[missing] = enc.encode_texts([texts[i] for i in missing])
        print(f"{name}: encoded {len(missing)} texts in {time.perf_counter() - t:.0f} s")
    out["text_emb"] = text
    if any(r.images for r in rows):
        img_found = _cached(cache_dir, IMAGE_SPEC_DIM, hashes)
        have = np.array([h in img_found for h in hashes], dtype=bool)
        image = np.zeros((len(rows), IMAGE_SPEC_DIM[2]), dtype=np.float32)
        for i in np.flatnonzero(have):
            image[i] = img_found[hashes[i]]
        print(f"{name}: image vectors cached for {have.sum()}/{len(rows)} offers")
        out["image_emb"], out["image_cached"] = image, have
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}.npz"
    np.savez(path, **out)
    print(f"{name}: {len(rows)} offers -> {path}")
    return path


# ------------------------------------------------------------------------------------------
# experiments


def _load(workdir: Path, name: str) -> dict:
    with np.load(workdir / f"{name}.npz", allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


def search_and_evaluate(d: dict, vec: np.ndarray, q: np.ndarray, i: np.ndarray, cfg: MatchConfig):
    """Search query rows ``q`` against index rows ``i`` of a bundle; the run's metrics."""
    from matching.ml import brands, retrieval

    q_keys, i_keys = list(d["brand_key"][q]), list(d["brand_key"][i])
    texts = {}
    if cfg.text_weight:
        texts = {"query_texts": list(d["text"][q]), "index_texts": list(d["text"][i])}
    res = retrieval.search(
        query_vecs=vec[q],
        index_vecs=vec[i],
        config=cfg,
        query_keys=q_keys,
        index_keys=i_keys,
        **texts,
    )
    ev = ml_evaluation.evaluate(
        query_product_ids=list(d["product_id"][q]),
        index_product_ids=list(d["product_id"][i]),
        indices=res.indices,
        similarities=res.similarities,
        k=cfg.k,
    )
    m = dict(ev.metrics)
    m["blocking_recall"] = (
        brands.blocking_recall(
            query_keys=q_keys,
            index_keys=i_keys,
            true_pairs=ev.true_pairs,
            threshold=cfg.brand_threshold,
        )
        if cfg.brand_threshold is not None
        else 1.0
    )
    return m


_VECTORS: dict[tuple, np.ndarray] = {}


def run_dataset(name: str, d: dict, exp: BenchConfig, *, seed: int = 0) -> dict[str, dict]:
    from matching.ml.features import NumericScaler
    from matching.ml.projection import assemble_features
    from matching.ml.training import TrainConfig, train_projection

    _, train_shops, index_shop, query_shops, cutoff = DATASETS[name]
    if "image" in exp.features and "image_emb" not in d:
        return {}
    feats = exp.features
    shop, created, pid = d["shop"], d["created"], d["product_id"]
    train = np.isin(shop, train_shops) & (created < cutoff)
    test = created >= cutoff
    raw = exp.kind == "raw"
    raw_num = d["numeric_raw"]
    scaler = NumericScaler.fit(raw_num[test] if raw else raw_num[train])
    x = assemble_features(
        image=d.get("image_emb"),
        text=d["text_emb"],
        numeric=scaler.transform(raw_num),
        features=list(feats),
    )
    key = (name, feats, exp.kind, tuple(sorted(exp.overrides.items())), seed)
    if key in _VECTORS:  # same trained model, other match settings
        vec = _VECTORS[key]
    elif raw:
        vec = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    else:
        cfg = exp.train_config(TrainConfig(seed=seed))
        tr = np.flatnonzero(train)
        result = train_projection(
            features=x[tr], product_ids=[p or None for p in pid[tr]], config=cfg
        )
        vec = result.head.project(x)
    _VECTORS[key] = vec
    match_config = exp.match_config(MatchConfig()).resolved(feats)
    idx = np.flatnonzero((shop == index_shop) & test)
    return {
        qs: search_and_evaluate(d, vec, np.flatnonzero((shop == qs) & test), idx, match_config)
        for qs in query_shops
    }


def _folders(args) -> dict[str, Path]:
    folders = {}
    for item in args.folder or []:
        name, _, path = item.partition("=")
        if name not in DATASETS or not path:
            raise SystemExit(f"--folder {item!r}: expected NAME=PATH with NAME in {list(DATASETS)}")
        folders[name] = Path(path)
    for name, spec in DATASETS.items():
        if name not in folders and args.data_root:
            folders[name] = Path(args.data_root) / spec[0]
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["prepare", "run"])
    parser.add_argument("--datasets", default="xshop,abt,wa")
    parser.add_argument("--data-root", help="folder holding the data sets' folders (prepare)")
    parser.add_argument("--folder", action="append", help="NAME=PATH of one data set (prepare)")
    parser.add_argument("--embedding-cache", help="the benchmark's embedding cache (prepare)")
    parser.add_argument("--workdir", required=True, help="where the .npz bundles go")
    parser.add_argument("--configs", nargs="*", default=None, help="benchmark config names")
    parser.add_argument("--seeds", default="0")
    args = parser.parse_args()
    names = args.datasets.split(",")
    workdir = Path(args.workdir)
    if args.action == "prepare":
        folders = _folders(args)
        if not args.embedding_cache or any(n not in folders for n in names):
            parser.error("prepare needs --embedding-cache and --data-root (or --folder NAME=PATH)")
        for n in names:
            prepare(n, folder=folders[n], cache_dir=Path(args.embedding_cache), workdir=workdir)
        return
    import torch

    torch.set_num_threads(2)
    data = {n: _load(workdir, n) for n in names}
    specs = args.configs or list(DEFAULT_CONFIGS)
    seeds = [int(s) for s in args.seeds.split(",")]
    cols = [("xshop", "boulevard"), ("xshop", "dune"), ("abt", "abt"), ("wa", "walmart")]
    cols = [c for n in names for c in cols if c[0] == n]
    pct = ml_evaluation.format_pct
    print("| config | seed | " + " | ".join(f"{q} AUCPR | {q} R@1 | {q} F1" for _, q in cols))
    for spec in specs:
        exp = parse_config(spec)
        for seed in seeds:
            row, blocking, t = [spec, str(seed)], [], time.perf_counter()
            for n in names:
                feats = (
                    exp.features if n == "xshop" else tuple(f for f in exp.features if f != "image")
                )
                res = run_dataset(
                    n, data[n], BenchConfig(**{**vars(exp), "features": feats}), seed=seed
                )
                for q in (q for dn, q in cols if dn == n):
                    m = res.get(q)
                    if m:
                        blocking.append(f"{q} {m['blocking_recall']:.3f}")
                    keys = ("AUCPR", "R@1", "best_F1")
                    row += [pct(m[key]) for key in keys] if m else ["-"] * len(keys)
            tail = f" | ({time.perf_counter() - t:.0f} s; blocking recall {', '.join(blocking)})"
            print("| " + " | ".join(row) + tail, flush=True)


if __name__ == "__main__":
    main()
