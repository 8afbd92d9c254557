"""A synthetic match run with ground truth, for tests, the simulation benchmark and demos.

Text-only offers (no images). Query i has product ``p{i}``; with probability ``p_in_index`` the
index holds its true match. The top-1 similarity s is uniform in [0.2, 1); the true match is
the top-1 candidate with probability s**2, else rank 2 or 3 (half the time) or not among the
candidates. The run's k=1 PR curve is computed with matching.ml.metrics and stored thinned to
at most matching.ml.evaluation.MAX_PR_POINTS points, as ``match`` stores it.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
from django.db import transaction

from matching.ml import evaluation as ml_evaluation
from matching.ml.brands import brand_key
from matching.ml.metrics import pr_curve_at_1
from matching.models import Candidate, MatchRun, Offer, Shop

BRANDS = ("Acme", "Borealis", "Corvo", "Delta", "Elan", "Fiora")
KINDS = ("dress", "shirt", "jeans", "sneakers", "jacket", "skirt")


def _offer(shop: Shop, offer_id: str, product: str, rng: random.Random) -> Offer:
    brand = rng.choice(BRANDS)
    style = hashlib.sha256(product.encode()).hexdigest()[:5]
    title = f"{brand} {rng.choice(KINDS)}, style {style}"
    return Offer(
        shop=shop,
        offer_id=offer_id,
        brand=brand,
        brand_normalised=brand_key(brand),
        title=title,
        text_normalised=title.lower(),
        product_id=product,
        sizes=["S", "M", "L"],
        price=rng.randint(10, 200),
        currency="EUR",
        category="synthetic",
    )


def create_synthetic_run(
    *, n_queries: int = 200, seed: int = 0, p_in_index: float = 0.8
) -> MatchRun:
    rng = random.Random(seed)
    with transaction.atomic():
        n = Shop.objects.filter(name__startswith="synth-query-").count() + 1
        qshop = Shop.objects.create(name=f"synth-query-{n}")
        ishop = Shop.objects.create(name=f"synth-index-{n}")
        queries, index, plan = [], [], []
        for i in range(n_queries):
            product = f"s{n}p{i}"
            queries.append(_offer(qshop, f"q{i}", product, rng))
            has = rng.random() < p_in_index
            s1 = 0.2 + 0.8 * rng.random()
            if has and rng.random() < s1**2:
                true_rank = 1
            elif has and rng.random() < 0.5:
                true_rank = rng.choice((2, 3))
            else:
                true_rank = None
            sims = [s1, s1 - 0.05 * rng.random(), s1 - 0.1 * rng.random()]
            sims = sorted(sims, reverse=True)
            for r in range(1, 4):
                prod = product if r == true_rank else f"s{n}x{i}-{r}"
                index.append(_offer(ishop, f"i{i}-{r}", prod, rng))
            plan.append((has, true_rank, sims))
        Offer.objects.bulk_create(queries, batch_size=1000)
        Offer.objects.bulk_create(index, batch_size=1000)
        qpk = dict(Offer.objects.filter(shop=qshop).values_list("offer_id", "pk"))
        ipk = dict(Offer.objects.filter(shop=ishop).values_list("offer_id", "pk"))
        run = MatchRun.objects.create(
            status=MatchRun.Status.DONE,
            query_shop=qshop,
            index_shop=ishop,
            features="synthetic",
            k=3,
            n_queries=n_queries,
            n_index=len(index),
        )
        cands = []
        for i, (_, _, sims) in enumerate(plan):
            for r in range(1, 4):
                cands.append(
                    Candidate(
                        run=run,
                        query_offer_id=qpk[f"q{i}"],
                        candidate_offer_id=ipk[f"i{i}-{r}"],
                        rank=r,
                        similarity=sims[r - 1],
                    )
                )
        Candidate.objects.bulk_create(cands, batch_size=2000)
        top1 = np.array([p[2][0] for p in plan])
        correct = np.array([p[1] == 1 for p in plan])
        n_with = sum(1 for p in plan if p[0])
        prec, rec, thr = pr_curve_at_1(
            top1_similarity=top1, top1_correct=correct, n_with_match=n_with
        )
        curve = {"precision": prec.tolist(), "recall": rec.tolist(), "thresholds": thr.tolist()}
        run.pr_curve = ml_evaluation.jsonable(ml_evaluation.thin_curve(curve))  # as match does
        run.metrics = {"synthetic": True, "seed": seed}
        run.save(update_fields=["pr_curve", "metrics"])
    return run
