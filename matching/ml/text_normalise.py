"""Canonical English titles: a shop that titles in German or French shares the English vocabulary.

``canonical_title("Herren Sneaker in Weiß")`` -> ``"men casual shoes white"``;
``canonical_title("robe imprimée rouge pour femme")`` -> ``"dress printed red women"``. Steps:
case and accent folding (``ß`` -> ``ss``, ``é`` -> ``e``), apostrophes dropped, split on anything
not a letter or digit, then the longest phrase of up to four words found in the dictionaries of
:mod:`matching.ml.text_vocabulary` (colours, garments, gender, common terms) is replaced by its
English word; an unknown word is tried without a German/French inflection (``blaues`` -> ``blau``)
and as a German compound (``Herrenschuhe`` -> ``herren`` + ``schuhe``); German/French function
words are dropped; anything else (brands, model names, numbers) is kept as it is.

Applied to both sides of a comparison (query and index titles alike), so English titles change
only by spelling variants (``men's`` -> ``men``, ``gray`` -> ``grey``); English plurals and
synonyms are left to the towers. A dictionary, not a
translator: words outside it stay in their language. Pure Python, no Django.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

from .text_vocabulary import COLOURS, GARMENTS, GENDER, INFLECTIONS, STOP_WORDS, TERMS

_APOSTROPHES = re.compile(r"['’`´]")
_SPLIT = re.compile(r"[^0-9a-z]+")
MAX_PHRASE = 4
MIN_STEM = 3  # an inflected word's stem and a compound's prefix have at least this many letters
MIN_COMPOUND_TAIL = 4  # a compound's last part has at least this many letters


def fold(text: str | None) -> list[str]:
    """Case- and accent-folded words: ``"Weiße T-Shirts"`` -> ``["weisse", "t", "shirts"]``."""
    text = unicodedata.normalize("NFKD", (text or "").casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return [w for w in _SPLIT.split(_APOSTROPHES.sub("", text)) if w]


@functools.cache
def _table() -> dict[tuple[str, ...], str]:
    table: dict[tuple[str, ...], str] = {}
    for vocabulary in (TERMS, GENDER, GARMENTS, COLOURS):  # later ones win on a clash
        for key, value in vocabulary.items():
            table[tuple(fold(key))] = " ".join(fold(value))
    return table


@functools.cache
def _stop_words() -> frozenset[str]:
    return frozenset(w for s in STOP_WORDS for w in fold(s))


def vocabulary_checksum() -> str:
    """sha256 of the dictionaries: part of the text encoder's checksum, so that the embedding
    cache is not reused after the vocabulary changed."""
    items = sorted(_table().items()) + sorted((("stop",), w) for w in _stop_words())
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _single(word: str) -> str | None:
    """The canonical form of one word, also when inflected or a German compound. An English
    word that is a key of its own (``shirt``, ``ring``) is not taken apart: ``shirts`` and
    ``nightshirt`` stay as written, ``blaues`` and ``herrenshirt`` do not."""
    table = _table()
    if (word,) in table:
        return table[(word,)]
    for ending in INFLECTIONS:
        stem = word[: -len(ending)]
        if word.endswith(ending) and len(stem) >= MIN_STEM and table.get((stem,), stem) != stem:
            return table[(stem,)]
    for cut in range(MIN_STEM, len(word) - MIN_COMPOUND_TAIL + 1):
        head, tail = word[:cut], word[cut:]
        tail_canonical = table.get((tail,))
        if tail_canonical is None:
            continue
        head_canonical = _compound_head(head)
        if tail_canonical == tail and head_canonical is None:
            continue
        return f"{head_canonical or head} {tail_canonical}"
    return None


def _compound_head(head: str) -> str | None:
    """The first part of a compound, canonical (also with a linking ``s``/``n``/``en`` dropped
    or the ``e`` of ``Baumwolle`` restored), or None when unknown."""
    table = _table()
    for candidate in (head, head + "e", head[:-1], head[:-2]):
        if len(candidate) >= MIN_STEM and (candidate,) in table:
            return table[(candidate,)]
    return None


def canonical_title(text: str | None) -> str:
    """The title with German/French fashion words in canonical English (see module docstring)."""
    words = fold(text)
    table, stop = _table(), _stop_words()
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(MAX_PHRASE, len(words) - i), 1, -1):
            phrase = tuple(words[i : i + n])
            if phrase in table:
                out.append(table[phrase])
                i += n
                break
        else:
            word = words[i]
            i += 1
            if word in stop:
                continue
            out.append(_single(word) or word)
    return " ".join(out)
