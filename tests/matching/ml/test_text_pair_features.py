import math

import numpy as np

from matching.ml.text_pair_features import (
    TEXT_FEATURE_NAMES,
    Title,
    is_code,
    text_pair_features,
)

COL = {name: i for i, name in enumerate(TEXT_FEATURE_NAMES)}


def test_is_code():
    assert is_code("elplp12") and is_code("dcs1100") and is_code("121066")
    assert not is_code("200") and not is_code("75") and not is_code("2c")
    assert not is_code("projector") and is_code("200w") is True


def test_title_normalises_codes():
    title = Title.of("Epson ELP-LP12 Lamp, 200W")
    assert title.codes == ("200w", "elplp12")
    assert title.compact == "epsonelplp12lamp200w"
    assert title.n_words == 4 and "lamp" in title.words


def _features(query, index):
    q, x = [Title.of(t) for t in query], [Title.of(t) for t in index]
    qp = np.repeat(np.arange(len(q)), len(x))
    xp = np.tile(np.arange(len(x)), len(q))
    return text_pair_features(q, x, qp, xp)


def test_codes_found_across_spellings():
    f = _features(
        ["Epson 1500 Hours 200W UHE Projector Lamp ELPLP12"],
        ["Epson ELP LP12 replacement lamp V13H010L12", "Epson ELPLP13 lamp", "Lamp for projectors"],
    )
    same, other, none = f
    assert same[COL["code_in_candidate"]] == 1 / 2  # elplp12 found (split), 200w not
    # the candidate's codes: lp12 (in the query, inside elplp12) and v13h010l12 (not)
    assert same[COL["code_in_query"]] == 1 / 2
    assert same[COL["longest_code_found"]] == len("elplp12")
    assert other[COL["code_in_candidate"]] == 0 and other[COL["longest_code_found"]] == 0
    assert np.isnan(none[COL["code_in_query"]])  # the candidate has no code
    assert none[COL["longest_code_found"]] == 0  # the query has codes, none found


def test_words_and_length():
    (row,) = _features(["acme phone black"], ["acme phone black case large extra"])
    assert row[COL["words_in_candidate"]] == 1.0
    assert math.isclose(row[COL["words_in_query"]], 0.5)
    assert math.isclose(row[COL["log_length_ratio"]], math.log(2), rel_tol=1e-6)
    (empty,) = _features([""], ["acme"])
    assert np.isnan(empty).all()
