import numpy as np
import pytest
from PIL import Image


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
