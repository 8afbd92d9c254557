import numpy as np
import pytest

from matching.ml.brands import (
    block_keys,
    block_pairs,
    blocking_recall,
    brand_key,
    brand_keys,
    fuzzy_matches,
)


def test_brand_key_sub_brands_case_punctuation_accents() -> None:
    for brand in ["adidas Originals", "ADIDAS", "Adidas-Performance", "ADIDAS TERREX", "adidas"]:
        assert brand_key(brand) == "adidas"
    assert brand_key("Tommy Hilfiger Inc.") == "tommy hilfiger"
    assert brand_key("Levi's® Jeans") == "levis"
    assert brand_key("Desigual Étoile") == "desigual etoile"
    assert brand_key("Jeans") == "jeans"  # nothing else left: keep it
    assert brand_key("") == brand_key(None) == ""
    assert brand_key("JORDAN", aliases={"Jordan": "Nike"}) == "nike"


def test_brand_keys_equal_brand_key_one_by_one() -> None:
    brands = ["adidas Originals", None, "JORDAN", "Levi's® Jeans", "JORDAN", ""]
    aliases = {"Jordan": "Nike"}
    assert brand_keys(brands, aliases=aliases) == [brand_key(b, aliases=aliases) for b in brands]
    assert brand_keys(brands)[2] == "jordan"


def test_block_pairs_fuzzy_and_empty_brands() -> None:
    blocks = block_pairs(
        query_brands=["adidas Originals", "Puma", "", "Addidas"],
        index_brands=["ADIDAS TERREX", "PUMA", "Nike", ""],
    )
    assert blocks["adidas"] == ["", "adidas"]
    assert blocks["puma"] == ["", "puma"]
    assert blocks[""] == ["", "adidas", "nike", "puma"]
    assert "adidas" in blocks["addidas"]  # typo within the threshold
    strict = block_pairs(query_brands=["Addidas"], index_brands=["adidas"], threshold=95)
    assert strict["addidas"] == []


def test_block_keys_subset_tokens_match_shared_word_does_not() -> None:
    blocks = block_keys(
        query_keys=["hugo", "jack jones"], index_keys=["hugo boss", "jack wolfskin"], threshold=80
    )
    assert blocks == {"hugo": ["hugo boss"], "jack jones": []}


def test_blocking_recall_on_keys() -> None:
    query = ["adidas Originals", "Jordan", "Puma", ""]
    index = ["ADIDAS", "Nike", "Reebok", "Puma"]
    pairs = [(0, 0), (1, 1), (2, 2), (3, 3)]
    qk, ik = brand_keys(query), brand_keys(index)
    assert blocking_recall(query_keys=qk, index_keys=ik, true_pairs=pairs) == 0.5
    aliases = {"jordan": "nike"}
    with_alias = blocking_recall(
        query_keys=brand_keys(query, aliases=aliases),
        index_keys=brand_keys(index, aliases=aliases),
        true_pairs=pairs,
    )
    assert with_alias == 0.75
    assert np.isnan(blocking_recall(query_keys=qk, index_keys=ik, true_pairs=[]))


@pytest.mark.parametrize("threshold", [0, 50, 80, 92, 100])
def test_fuzzy_matches_equal_scoring_every_pair(threshold) -> None:
    from rapidfuzz import fuzz, process

    rng = np.random.default_rng(threshold)
    syllables = ["ka", "lo", "mi", "ne", "tor", "sa", "ü", "ß", "x1", "boss", "hugo"]
    keys = {"".join(rng.choice(syllables, size=int(rng.integers(1, 4)))) for _ in range(150)}
    keys |= {" ".join(rng.choice(sorted(keys), size=2)) for _ in range(40)}
    keys = sorted(keys)
    typos = [k[: len(k) // 2] + k[len(k) // 2 + 1 :] for k in keys[::3]]
    query, index = sorted(set(keys[::2] + typos)), keys
    full = process.cdist(query, index, scorer=fuzz.token_set_ratio, dtype=np.float32)
    expected = [np.flatnonzero(row >= threshold).tolist() for row in full]
    assert fuzzy_matches(query, index, threshold=threshold) == expected
    assert sum(map(len, expected)) > len(query)  # more than the equal keys


@pytest.mark.parametrize("overlap_block", [1, 7, 1 << 22])
def test_fuzzy_matches_in_blocks_with_repeated_characters(monkeypatch, overlap_block) -> None:
    """The character-overlap bound counts repeated characters ("aaab" vs "aab"); computed in
    blocks of query keys it must still keep every pair that reaches the threshold."""
    from rapidfuzz import fuzz, process

    from matching.ml import brands

    monkeypatch.setattr(brands, "OVERLAP_BLOCK", overlap_block)
    rng = np.random.default_rng(5)
    letters = ["a", "a", "b", "c", "ä", "日", " "]
    keys = sorted(
        {"".join(rng.choice(letters, size=int(rng.integers(1, 9)))).strip() for _ in range(300)}
        - {""}
    )
    query, index = keys[::2], keys
    for threshold in (60, 80, 95):
        full = process.cdist(query, index, scorer=fuzz.token_set_ratio, dtype=np.float32)
        expected = [np.flatnonzero(row >= threshold).tolist() for row in full]
        assert fuzzy_matches(query, index, threshold=threshold) == expected
        assert sum(map(len, expected)) > len(query)
