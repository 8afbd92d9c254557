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
    matches = fuzzy_matches(q_named, i_named, threshold=threshold)
    blocks: dict[str, list[str]] = {"": i_all} if "" in query_keys else {}
    i_set = set(i_all)
    for row, qk in enumerate(q_named):
        matched = {i_named[j] for j in matches[row]}
        matched |= {qk, ""} & i_set  # equal keys and unbranded index offers always match
        blocks[qk] = sorted(matched)
    return blocks


#: Above this many distinct characters the character-overlap filter is skipped.
MAX_FILTER_CHARS = 512


def fuzzy_matches(
    query_keys: Sequence[str], index_keys: Sequence[str], *, threshold: float
) -> list[list[int]]:
    """For each query key, the positions of the index keys with
    ``fuzz.token_set_ratio >= threshold`` (the same as scoring every pair with
    ``process.cdist``, but only pairs that can reach the threshold are scored).

    A pair can only reach it when the keys share a token, or else (token_set_ratio is then the
    Indel ratio ``200 * LCS / (la + lb)`` of the two sorted token sets, joined) when their
    characters overlap enough: ``LCS <= sum_c min(count_a(c), count_b(c))``, so pairs whose
    overlap bound (or length ratio) is below the threshold are skipped.
    """
    nq, ni = len(query_keys), len(index_keys)
    if not nq or not ni:
        return [[] for _ in range(nq)]
    q_joined = [" ".join(sorted(set(k.split()))) for k in query_keys]
    i_joined = [" ".join(sorted(set(k.split()))) for k in index_keys]
    chars = sorted({c for text in (*q_joined, *i_joined) for c in text})
    if threshold <= 0 or len(chars) > MAX_FILTER_CHARS:
        scores = process.cdist(
            query_keys, index_keys, scorer=fuzz.token_set_ratio, dtype=np.float32, workers=-1
        )
        return [np.flatnonzero(row >= threshold).tolist() for row in scores]
    candidates: list[set[int]] = [set() for _ in range(nq)]
    by_token: dict[str, list[int]] = {}
    for j, key in enumerate(index_keys):
        for token in set(key.split()):
            by_token.setdefault(token, []).append(j)
    for i, key in enumerate(query_keys):
        for token in set(key.split()):
            candidates[i].update(by_token.get(token, ()))
    h_q, h_i = _char_counts(q_joined, chars), _char_counts(i_joined, chars)
    len_q, len_i = h_q.sum(axis=1), h_i.sum(axis=1)
    by_length = np.argsort(len_i, kind="stable")
    len_sorted, h_sorted = len_i[by_length], h_i[by_length]
    share = min(threshold, 100.0) / 200.0 - 1e-6  # bound: overlap >= share * (la + lb)
    for i in range(nq):
        la = int(len_q[i])
        lo = np.searchsorted(len_sorted, la * share / (1 - share) - 1e-9, side="left")
        hi = np.searchsorted(len_sorted, la * (1 - share) / share + 1e-9, side="right")
        if hi > lo:
            overlap = np.minimum(h_sorted[lo:hi], h_q[i]).sum(axis=1)
            ok = overlap >= share * (la + len_sorted[lo:hi])
            candidates[i].update(by_length[lo:hi][ok].tolist())
    return [
        sorted(j for j in cands if fuzz.token_set_ratio(query_keys[i], index_keys[j]) >= threshold)
        for i, cands in enumerate(candidates)
    ]


def _char_counts(texts: Sequence[str], chars: Sequence[str]) -> np.ndarray:
    pos = {c: n for n, c in enumerate(chars)}
    counts = np.zeros((len(texts), len(chars)), dtype=np.int32)
    for row, text in enumerate(texts):
        for c in text:
            counts[row, pos[c]] += 1
    return counts


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
