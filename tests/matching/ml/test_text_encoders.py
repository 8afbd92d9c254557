import numpy as np
import pytest

from matching.ml.encoders import create_text_encoder


@pytest.mark.slow
def test_minilm_text_encoder() -> None:
    enc = create_text_encoder("minilm", device="cpu")
    v = enc.encode_texts(["red shirt", "red t-shirt", "black boots"], batch_size=2)
    assert v.shape == (3, 384) and enc.dim == 384 and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert enc.encode_texts([]).shape == (0, 384)
    assert len(enc.weights_checksum) == 64
