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
    overlap bound is below the threshold are skipped. The bound of all pairs is one matrix
    product of 0/1 "at least t times character c" columns (exact in float32); the remaining
    pairs are scored in one ``process.cpdist`` call.
    """
    nq, ni = len(query_keys), len(index_keys)
    if not nq or not ni:
        return [[] for _ in range(nq)]
    q_joined = [" ".join(sorted(set(k.split()))) for k in query_keys]
    i_joined = [" ".join(sorted(set(k.split()))) for k in index_keys]
    q_counts, i_counts = _char_counts([*q_joined, *i_joined], n_first=nq)
    if threshold <= 0 or q_counts.shape[1] > MAX_FILTER_CHARS:
        scores = process.cdist(
            query_keys, index_keys, scorer=fuzz.token_set_ratio, dtype=np.float32, workers=-1
        )
        return [np.flatnonzero(row >= threshold).tolist() for row in scores]
    by_token: dict[str, list[int]] = {}
    for j, key in enumerate(index_keys):
        for token in set(key.split()):
            by_token.setdefault(token, []).append(j)
    pairs = [
        i * ni + j
        for i, key in enumerate(query_keys)
        for token in set(key.split())
        for j in by_token.get(token, ())
    ]
    share = min(threshold, 100.0) / 200.0 - 1e-6  # bound: overlap >= share * (la + lb)
    q_levels, i_levels = _levels(q_counts, i_counts)
    # overlap >= share * (la + lb) in float32, loosened by 1e-3 (it only filters candidates)
    need_q = (share * q_counts.sum(axis=1) - 1e-3).astype(np.float32)[:, None]
    need_i = (share * i_counts.sum(axis=1)).astype(np.float32)
    step = max(1, OVERLAP_BLOCK // ni)
    found = [np.asarray(pairs, dtype=np.int64)]
    for start in range(0, nq, step):
        overlap = q_levels[start : start + step] @ i_levels.T  # sum_c min(count_a, count_b)
        overlap -= need_i
        found.append(np.flatnonzero(overlap >= need_q[start : start + step]) + start * ni)
    candidates = np.unique(np.concatenate(found))
    rows, cols = np.divmod(candidates, ni)
    scores = process.cpdist(
        [query_keys[i] for i in rows.tolist()],
        [index_keys[j] for j in cols.tolist()],
        scorer=fuzz.token_set_ratio,
        dtype=np.float64,
        workers=-1,
        score_cutoff=threshold,  # below it: 0, found faster
    )
    keep = scores >= threshold
    rows, cols = rows[keep], cols[keep]  # sorted by row, then column
    bounds = np.searchsorted(rows, np.arange(nq + 1))
    cols_list = cols.tolist()
    return [cols_list[bounds[i] : bounds[i + 1]] for i in range(nq)]


#: Most (query key, index key) overlap bounds computed at once.
OVERLAP_BLOCK = 1 << 22


def _char_counts(texts: Sequence[str], *, n_first: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts (texts, distinct characters) of every character, split after ``n_first`` rows."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    chars, char_of = np.unique(codes, return_inverse=True)
    owner = np.repeat(np.arange(len(texts)), lengths)
    flat = np.bincount(owner * len(chars) + char_of, minlength=len(texts) * len(chars))
    counts = flat.reshape(len(texts), len(chars)).astype(np.int32)
    return counts[:n_first], counts[n_first:]


def _levels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0/1 float32 columns "count of character c >= t" (t = 1 .. the most of c in any row):
    ``levels(a) @ levels(b).T == sum_c min(a_c, b_c)``."""
    most = np.maximum(a.max(axis=0, initial=0), b.max(axis=0, initial=0))
    cols = [(c, t) for c in range(a.shape[1]) for t in range(1, int(most[c]) + 1)]
    char = np.array([c for c, _ in cols], dtype=np.int64)
    level = np.array([t for _, t in cols], dtype=np.int32)
    return (
        (a[:, char] >= level).astype(np.float32),
        (b[:, char] >= level).astype(np.float32),
    )


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
