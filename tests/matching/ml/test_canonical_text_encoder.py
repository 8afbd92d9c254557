import numpy as np
import pytest

from matching.ml.encoder_base import EncoderUnavailable
from matching.ml.encoders import create_text_encoder
from matching.ml.text_encoders import CanonicalTextEncoder, TextEncoder


class BagOfWords(TextEncoder):
    """A tiny deterministic tower: hashed word counts."""

    spec = "bag"
    dim = 64
    weights_checksum = "bag-weights"
    device = "cpu"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        self.seen.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        return out + 1e-3


def test_canonical_encoder_feeds_the_inner_tower_canonical_english() -> None:
    inner = BagOfWords()
    enc = CanonicalTextEncoder(spec="canonical:bag", inner=inner)
    v = enc.encode_texts(["Herren Hemd Weiß", "Men's White Shirt", "Damen Rock Schwarz"])
    assert inner.seen == ["men shirt white", "men white shirt", "women skirt black"]
    assert v.shape == (3, 64) and enc.dim == 64 and enc.spec == "canonical:bag"
    np.testing.assert_allclose(v[0], v[1], atol=1e-6)  # same bag of words after normalising
    assert v[0] @ v[2] < 0.5
    plain = inner.encode_texts(["Herren Hemd Weiß", "Men's White Shirt"])
    assert plain[0] @ plain[1] < 0.5  # without it the two languages share no word


def test_canonical_checksum_covers_the_inner_weights() -> None:
    a = CanonicalTextEncoder(spec="canonical:bag", inner=BagOfWords())
    other = BagOfWords()
    other.weights_checksum = "other-weights"
    b = CanonicalTextEncoder(spec="canonical:bag", inner=other)
    assert len(a.weights_checksum) == 64
    assert a.weights_checksum != b.weights_checksum != "bag-weights"


@pytest.mark.parametrize("spec", ["canonical:", "canonical:canonical:minilm", "canonical:nope"])
def test_bad_canonical_specs_are_refused(spec: str) -> None:
    with pytest.raises(EncoderUnavailable):
        create_text_encoder(spec, device="cpu")


@pytest.mark.slow
def test_canonical_minilm_brings_german_titles_closer() -> None:
    plain = create_text_encoder("minilm", device="cpu")
    canon = create_text_encoder("canonical:minilm", device="cpu")
    assert canon.dim == plain.dim and canon.weights_checksum != plain.weights_checksum
    titles = ["Nike Herren Sportschuhe in Schwarz", "Nike Men Black Sports Shoes"]
    p, c = plain.encode_texts(titles), canon.encode_texts(titles)
    assert c[0] @ c[1] > p[0] @ p[1] + 0.1
