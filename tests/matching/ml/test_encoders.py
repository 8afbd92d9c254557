import pytest

from matching.ml.encoder_base import EncoderUnavailable
from matching.ml.encoders import create_image_encoder, create_text_encoder

SMALL_CLIP = "ViT-S-32-alt"  # smallest registered open_clip config (~43M parameters)


def test_open_clip_bad_specs() -> None:
    with pytest.raises(EncoderUnavailable, match="known tag"):
        create_image_encoder(f"open_clip:{SMALL_CLIP}:no-such-tag", device="cpu")
    with pytest.raises(EncoderUnavailable, match="unknown open_clip model"):
        create_text_encoder("open_clip:NoSuchModel", device="cpu")
    with pytest.raises(EncoderUnavailable):
        create_image_encoder("resnet", device="cpu")
    with pytest.raises(EncoderUnavailable):
        create_text_encoder("bert", device="cpu")
    with pytest.raises(EncoderUnavailable, match="sentence-transformers"):
        create_text_encoder("sentence-transformers:/no/such/folder", device="cpu")
