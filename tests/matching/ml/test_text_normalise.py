import pytest

from matching.ml import text_normalise
from matching.ml.text_normalise import canonical_title, fold, vocabulary_checksum


def test_fold_cases_accents_apostrophes_and_punctuation() -> None:
    assert fold("Weiße T-Shirts, Men's") == ["weisse", "t", "shirts", "mens"]
    assert fold("Écharpe GRÜN") == ["echarpe", "grun"]
    assert fold(None) == [] and fold("  -- ") == []


@pytest.mark.parametrize(
    ("foreign", "english"),
    [
        ("Nike Herren Sportschuhe Schwarz", "Nike Men Sports Shoes Black"),
        ("arrow damen kleid rot", "arrow women dress red"),
        ("Levis Damen Jeans Dunkelblau", "Levis Women Jeans Navy Blue"),
        ("Puma Zehentrenner Weiß", "Puma Flip Flops White"),
        ("robe imprimée rouge pour femme", "printed red dress women"),
        ("chaussures de sport homme noires", "sports shoes men black"),
        ("sac à dos gris", "grey backpack"),
        ("boucles d'oreilles dorées", "golden earrings"),
    ],
)
def test_german_and_french_words_become_the_english_ones(foreign: str, english: str) -> None:
    assert sorted(canonical_title(foreign).split()) == sorted(canonical_title(english).split())


def test_inflected_adjectives_and_german_compounds() -> None:
    assert canonical_title("blaues kariertes Hemd") == "blue checked shirt"
    assert canonical_title("schwarzer Rock") == "black skirt"
    assert canonical_title("Herrenschuhe") == "men shoes"
    assert canonical_title("Damen Baumwollkleid hellrosa") == "women cotton dress light pink"
    # an unknown head stays as written; the known tail is still recognised
    assert canonical_title("Karottenjacke") == "karotten jacket"


def test_english_titles_change_only_by_spelling_variants() -> None:
    assert canonical_title("JOHN MILLER Men's Solid Shirts - Purple") == (
        "john miller men solid shirts purple"
    )
    # plurals, compounds of English words and "in" (also a brand: Indigo Nation) stay
    assert canonical_title("in checks blue shirts nightshirt") == "in checks blue shirts nightshirt"
    assert canonical_title("Herrenshirt") == "men shirt"
    assert canonical_title("Gray T-Shirt") == canonical_title("grey tshirt") == "grey tshirt"
    # "slip on" shoes are not German briefs, "or" is not French gold
    assert canonical_title("Slip On Casual Shoes or Sandals") == "slip on casual shoes or sandals"


def test_unknown_words_brands_and_numbers_are_kept_and_stop_words_dropped() -> None:
    assert canonical_title("Ray-Ban Aviator RB3025 für Herren") == "ray ban aviator rb3025 men"
    assert canonical_title("") == "" and canonical_title(None) == ""


def test_canonical_title_is_idempotent() -> None:
    for title in ["Herren Hemd in Weiß", "robe rouge", "Men's Gray Flip-Flops"]:
        once = canonical_title(title)
        assert canonical_title(once) == once


def test_vocabulary_checksum_follows_the_dictionaries(monkeypatch) -> None:
    before = vocabulary_checksum()
    assert before == vocabulary_checksum() and len(before) == 64
    monkeypatch.setitem(text_normalise.COLOURS, "himmelblau", "light blue")
    text_normalise._table.cache_clear()
    try:
        assert canonical_title("himmelblau") == "light blue"
        assert vocabulary_checksum() != before
    finally:
        monkeypatch.undo()
        text_normalise._table.cache_clear()
    assert vocabulary_checksum() == before
