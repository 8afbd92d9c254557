import numpy as np
import pytest
import torch

from matching.ml.projection import (
    ProjectionHead,
    assemble_features,
    load_projection,
    save_projection,
)


@pytest.mark.parametrize("hidden", [0, 16])
def test_head_output_is_normalised_and_round_trips(tmp_path, hidden: int) -> None:
    torch.manual_seed(0)
    head = ProjectionHead(10, out_dim=4, hidden=hidden)
    x = torch.randn(5, 10)
    out = head(x)
    assert out.shape == (5, 4)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))
    path = save_projection(head, tmp_path / "head.pt", extra={"features": ["image"], "tau": 0.06})
    loaded, extra = load_projection(path)
    assert extra == {"features": ["image"], "tau": 0.06}
    assert loaded.config() == {"in_dim": 10, "out_dim": 4, "hidden": hidden}
    torch.testing.assert_close(loaded(x), out.detach())
    np.testing.assert_allclose(loaded.project(x.numpy()), out.detach().numpy(), rtol=1e-5)


def test_assemble_features_order_and_scaling() -> None:
    image = np.array([[3.0, 4.0], [0.0, 0.0]])
    text = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
    numeric = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    out = assemble_features(
        image=image, text=text, numeric=numeric, features=["numeric", "image", "text"]
    )
    assert out.dtype == np.float32 and out.shape == (2, 9)
    np.testing.assert_allclose(out[0], [0.6, 0.8, 0, 1, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(out[1], [0, 0, 1, 0, 0, 0, 0, 0, 0.5])  # no image -> zero block
    only_text = assemble_features(image=None, text=text, numeric=None, features=["text"])
    assert only_text.shape == (2, 3)


def test_assemble_features_errors() -> None:
    with pytest.raises(ValueError):
        assemble_features(image=None, text=np.ones((1, 2)), numeric=None, features=["image"])
    with pytest.raises(ValueError):
        assemble_features(image=None, text=np.ones((1, 2)), numeric=None, features=["colour"])
    with pytest.raises(ValueError):
        assemble_features(
            image=np.ones((2, 2)), text=np.ones((1, 2)), numeric=None, features=["image", "text"]
        )
