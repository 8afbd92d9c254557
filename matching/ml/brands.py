"""Brand keys and brand blocking (rapidfuzz).

:func:`brand_key` is THE brand normaliser: import stores it as ``Offer.brand_normalised`` and the
matching service blocks on the stored keys. Blocking compares brand keys with
``rapidfuzz.fuzz.token_set_ratio`` (0-100): equal keys always match; otherwise a query key and an
index key form a block when their score is ``>= threshold``. ``token_set_ratio`` scores 100 when
the tokens of one key are a subset of the other's ("hugo" / "hugo boss") and tolerates typos
("adidas" / "addidas" ~ 92), while brands that only share a word stay apart ("jack jones" /
"jack wolfskin" ~ 57). An empty key is never blocked: such a query is compared with the whole
index, and such an index offer is a candidate for every query.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

import numpy as np
from rapidfuzz import fuzz, process

SUB_BRAND_WORDS = frozenset(
    {
        "originals", "performance", "terrex", "sportswear", "sport", "sports", "jeans", "denim",
        "collection", "kids", "junior", "men", "women", "mens", "womens", "essentials", "studio",
        "the", "by", "and",
    }
)  # fmt: skip
CORPORATE_WORDS = frozenset(
    {"inc", "ltd", "limited", "gmbh", "co", "corp", "corporation", "llc", "ag", "sa", "srl", "plc"}
)


def brand_key(brand: str | None, *, aliases: Mapping[str, str] | None = None) -> str:
    """Key for blocking: accents stripped, case-folded, punctuation removed, sub-brand and
    corporate words (``SUB_BRAND_WORDS``, ``CORPORATE_WORDS``) dropped unless nothing else is
    left, then mapped through ``aliases`` (keys are normalised the same way first, e.g.
    ``{"jordan": "nike"}``). ``"adidas Originals"``, ``"ADIDAS TERREX"`` -> ``"adidas"``.
    """
    key = _base_key(brand)
    return _normalise_aliases(aliases).get(key, key) if aliases else key


def brand_keys(
    brands: Sequence[str | None], *, aliases: Mapping[str, str] | None = None
) -> list[str]:
    """:func:`brand_key` of every brand (each distinct brand normalised once)."""
    alias_map = _normalise_aliases(aliases)
    cache: dict[str | None, str] = {}
    out = []
    for b in brands:
        if b not in cache:
            key = _base_key(b)
            cache[b] = alias_map.get(key, key)
        out.append(cache[b])
    return out


def _base_key(brand: str | None) -> str:
    text = unicodedata.normalize("NFKD", brand or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"['\u2019`´]", "", text)
    text = text.replace("&", " and ")
    tokens = re.sub(r"[\W_]+", " ", text).split()
    kept = [t for t in tokens if t not in SUB_BRAND_WORDS and t not in CORPORATE_WORDS]
    return " ".join(kept or tokens)


def _normalise_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    return {_base_key(k): _base_key(v) for k, v in (aliases or {}).items()}


def block_keys(
    *, query_keys: Sequence[str], index_keys: Sequence[str], threshold: float
) -> dict[str, list[str]]:
    """For every distinct query key, the sorted index keys it is compared with."""
    q_named = sorted({k for k in query_keys if k})
    i_all = sorted(set(index_keys))
    i_named = [k for k in i_all if k]
    scores = np.zeros((len(q_named), len(i_named)), dtype=np.float32)
    if q_named and i_named:
        scores = process.cdist(
            q_named, i_named, scorer=fuzz.token_set_ratio, dtype=np.float32, workers=-1
        )
    blocks: dict[str, list[str]] = {"": i_all} if "" in query_keys else {}
    for row, qk in enumerate(q_named):
        matched = {i_named[j] for j in np.flatnonzero(scores[row] >= threshold)}
        matched |= {qk, ""} & set(i_all)  # equal keys and unbranded index offers always match
        blocks[qk] = sorted(matched)
    return blocks


def block_pairs(
    *,
    query_brands: Sequence[str | None],
    index_brands: Sequence[str | None],
    threshold: float = 80,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """For every query brand key, the index brand keys it is compared with (see module doc)."""
    return block_keys(
        query_keys=brand_keys(query_brands, aliases=aliases),
        index_keys=brand_keys(index_brands, aliases=aliases),
        threshold=threshold,
    )


def blocking_recall(
    *,
    query_keys: Sequence[str],
    index_keys: Sequence[str],
    true_pairs: Sequence[tuple[int, int]],
    threshold: float = 80,
) -> float:
    """Share of true ``(query pos, index pos)`` pairs that blocking on these brand KEYS (see
    :func:`brand_key`) keeps (NaN if none)."""
    if not true_pairs:
        return float("nan")
    blocks = {
        k: set(v)
        for k, v in block_keys(
            query_keys=query_keys, index_keys=index_keys, threshold=threshold
        ).items()
    }
    kept = sum(index_keys[i] in blocks[query_keys[q]] for q, i in true_pairs)
    return kept / len(true_pairs)
