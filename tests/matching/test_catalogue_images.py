"""The image work of the import: reduced-scale JPEG decoding keeps the 254x367 copy's detail."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from matching.catalogue_images import PREPROCESSED_SIZE, ImageTask, prepare_row_images


def _photo(width: int, height: int, orientation: int = 1) -> bytes:
    """A smooth gradient photo (JPEG), optionally with an EXIF orientation tag."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1)
    image = Image.fromarray(rgb.astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def _full_decode_copy(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        fitted = ImageOps.fit(
            ImageOps.exif_transpose(image).convert("RGB"),
            PREPROCESSED_SIZE,
            method=Image.Resampling.BICUBIC,
        )
        return np.asarray(fitted, dtype=np.float32)


@pytest.mark.parametrize(
    ("width", "height", "orientation", "decoded_at_most"),
    [
        (2000, 3000, 1, (500, 750)),  # 1/4 scale still >= 254x367
        (3000, 1200, 1, (1500, 600)),  # wide: 1/4 scale would leave a crop under 367 high
        (1200, 3000, 6, (600, 1500)),  # stored 1200x3000, shown rotated 3000x1200
        (300, 400, 1, (300, 400)),  # small: decoded in full
    ],
)
def test_large_jpeg_is_decoded_at_reduced_scale_with_the_same_copy(
    tmp_path: Path, monkeypatch, width, height, orientation, decoded_at_most
) -> None:
    data = _photo(width, height, orientation)
    (tmp_path / "a.jpg").write_bytes(data)
    decoded = []
    real_load = Image.Image.load

    def spy(self):
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    task = ImageTask(7, ("a.jpg",), (str(tmp_path / "a.jpg"),), str(tmp_path / "media"), 1)
    result = prepare_row_images(task)
    monkeypatch.setattr(Image.Image, "load", real_load)
    assert not result.error
    stored = result.images[0]
    assert (stored.width, stored.height) == (width, height)  # the original's size is recorded
    w, h = decoded_at_most
    assert decoded[0][0] <= w and decoded[0][1] <= h  # the first load() is the decode
    with Image.open(tmp_path / "media" / stored.preprocessed) as copy:
        assert copy.size == PREPROCESSED_SIZE
        got = np.asarray(copy.convert("RGB"), dtype=np.float32)
    # the same picture as a full decode, to JPEG noise
    assert np.abs(got - _full_decode_copy(data)).mean() < 3.0


def test_draft_is_skipped_for_png(tmp_path: Path, monkeypatch) -> None:
    Image.new("RGB", (2000, 3000), (10, 200, 30)).save(tmp_path / "a.png")
    calls = []
    monkeypatch.setattr(Image.Image, "draft", lambda self, *a: calls.append(a))
    task = ImageTask(1, ("a.png",), (str(tmp_path / "a.png"),), str(tmp_path / "media"), 1)
    assert not prepare_row_images(task).error
    assert calls == []
