import time

import numpy as np
import pytest
import torch
from PIL import Image

from matching.ml.encoder_base import EncoderUnavailable, state_dict_sha256
from matching.ml.encoders import create_image_encoder, create_text_encoder
from matching.ml.open_clip_weights import save_open_clip_checkpoint

SMALL_CLIP = "ViT-S-32-alt"  # smallest registered open_clip config (~43M parameters)


def test_open_clip_random_init_image_and_text(image_paths) -> None:
    image = create_image_encoder(f"open_clip:{SMALL_CLIP}", device="cpu")
    text = create_text_encoder(f"open_clip:{SMALL_CLIP}", device="cpu")
    assert image.weights_checksum == text.weights_checksum == f"random:open_clip:{SMALL_CLIP}"
    emb, has_image = image.encode_offer_images([image_paths[:2]], num_workers=0)
    assert emb.shape == (1, image.dim) and has_image.all()
    t = text.encode_texts(["red shirt", "black boots"])
    assert t.shape == (2, text.dim)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)


def test_open_clip_local_checkpoint_round_trip(tmp_path, image_paths) -> None:
    import open_clip

    torch.manual_seed(123)  # different from the encoders' seeded random init
    model, _, preprocess = open_clip.create_model_and_transforms(SMALL_CLIP)
    model.eval()
    path = tmp_path / "clip.pt"
    torch.save(model.state_dict(), path)
    enc = create_image_encoder(f"open_clip:{SMALL_CLIP}:{path}", device="cpu")
    pixels = torch.stack([preprocess(Image.open(p)) for p in image_paths])
    with torch.inference_mode():
        expected = model.encode_image(pixels).numpy()
    np.testing.assert_allclose(enc.encode_batch(pixels), expected, rtol=1e-4, atol=1e-5)
    assert enc.weights_checksum == state_dict_sha256(model)
    text = create_text_encoder(f"open_clip:{SMALL_CLIP}:{path}", device="cpu")
    with torch.inference_mode():
        ref = model.encode_text(open_clip.get_tokenizer(SMALL_CLIP)(["blue jeans"])).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(text.encode_texts(["blue jeans"]), ref, rtol=1e-4, atol=1e-5)


def test_save_open_clip_checkpoint_loads_back(tmp_path, image_paths) -> None:
    path = save_open_clip_checkpoint(SMALL_CLIP, tmp_path / "random.pt")
    random_enc = create_image_encoder(f"open_clip:{SMALL_CLIP}", device="cpu")
    pixels = torch.stack([random_enc.preprocess(Image.open(p)) for p in image_paths[:1]])
    expected = random_enc.encode_batch(pixels)
    loaded = create_image_encoder(f"open_clip:{SMALL_CLIP}:{path}", device="cpu")
    np.testing.assert_allclose(loaded.encode_batch(pixels), expected, rtol=1e-4, atol=1e-5)


def test_open_clip_hub_tag_fails_fast_offline(monkeypatch, tmp_path) -> None:
    import huggingface_hub.constants as hf_constants

    # an empty cache and NO offline flag set by the caller: the encoder must force offline mode
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    started = time.perf_counter()
    with pytest.raises(EncoderUnavailable, match="can't be loaded.*local checkpoint"):
        create_image_encoder("open_clip:ViT-B-32:laion2b_s34b_b79k", device="cpu")
    assert time.perf_counter() - started < 10
    assert hf_constants.HF_HUB_OFFLINE is False  # restored
