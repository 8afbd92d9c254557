"""The image work of the import: reduced-scale JPEG decoding keeps the 254x367 copy's detail;
originals are hard links only where that is safe; a corrupt image stores nothing."""

import errno
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from matching import catalogue_images
from matching.catalogue_images import PREPROCESSED_SIZE, TMP_DIR, ImageTask, prepare_row_images


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


# Originals: a hard link to the catalogue's file where that is safe, else a copy.


def _jpeg_file(folder: Path, name: str = "a.jpg") -> Path:
    path = folder / name
    path.write_bytes(_photo(60, 80))
    return path


def _prepare(source: Path, media: Path, **task) -> tuple[Path, str]:
    task.setdefault("link_originals", True)
    result = prepare_row_images(ImageTask(3, ("a.jpg",), (str(source),), str(media), 1, **task))
    assert not result.error
    stored = result.images[0]
    assert stored.original in result.created
    return media / stored.original, stored.checksum


def _no_temporary_files(media: Path) -> bool:
    folder = media / TMP_DIR
    return not folder.exists() or not any(folder.iterdir())


def test_original_is_a_hard_link_to_the_file_that_was_read(tmp_path: Path) -> None:
    source = _jpeg_file(tmp_path)
    original, checksum = _prepare(source, tmp_path / "media")
    assert os.path.samefile(original, source) and source.stat().st_nlink == 2
    assert hashlib.sha256(original.read_bytes()).hexdigest() == checksum
    assert _no_temporary_files(tmp_path / "media")


def test_original_is_copied_when_links_are_off(tmp_path: Path) -> None:
    source = _jpeg_file(tmp_path)
    original, _ = _prepare(source, tmp_path / "media", link_originals=False)
    assert not os.path.samefile(original, source) and source.stat().st_nlink == 1
    assert original.read_bytes() == source.read_bytes()


def test_file_changed_after_it_was_read_is_stored_as_read_not_linked(
    tmp_path: Path, monkeypatch
) -> None:
    source = _jpeg_file(tmp_path)
    read = source.read_bytes()
    real_link = os.link

    def change_then_link(src, dst, **kwargs):  # another program rewrites the file meanwhile
        with open(src, "ab") as handle:
            handle.write(b"appended later")
        return real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", change_then_link)
    original, checksum = _prepare(source, tmp_path / "media")
    assert not os.path.samefile(original, source)
    assert original.read_bytes() == read  # the bytes that were hashed and checked
    assert hashlib.sha256(read).hexdigest() == checksum
    assert _no_temporary_files(tmp_path / "media")  # the refused link is gone again


def test_other_file_system_is_copied_and_not_tried_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(catalogue_images, "_unlinkable_devices", set())
    calls = []

    def cross_device(src, dst, **kwargs):
        calls.append(src)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    first, _ = _prepare(_jpeg_file(tmp_path, "a.jpg"), tmp_path / "media")
    second = tmp_path / "b.jpg"
    second.write_bytes(_photo(70, 90))
    assert not prepare_row_images(
        ImageTask(4, ("b.jpg",), (str(second),), str(tmp_path / "media"), 1, link_originals=True)
    ).error
    assert len(calls) == 1  # the device is remembered
    assert first.read_bytes() == (tmp_path / "a.jpg").read_bytes()
    assert _no_temporary_files(tmp_path / "media")


def test_file_not_readable_by_all_is_copied_readable(tmp_path: Path) -> None:
    source = _jpeg_file(tmp_path)
    source.chmod(0o600)
    original, _ = _prepare(source, tmp_path / "media")
    assert not os.path.samefile(original, source)
    assert original.stat().st_mode & 0o444 == 0o444


def test_truncated_jpeg_is_rejected_by_name_and_nothing_is_stored(tmp_path: Path) -> None:
    good = _jpeg_file(tmp_path, "good.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(_photo(600, 800)[:2000])  # a real JPEG header, the picture cut short
    media = tmp_path / "media"
    task = ImageTask(9, ("good.jpg", "cut.jpg"), (str(good), str(cut)), str(media), 1)
    result = prepare_row_images(task)
    assert result.line == 9 and "'cut.jpg' is corrupt" in result.error
    assert not result.created and not media.exists()  # the good image of the row neither
    assert good.stat().st_nlink == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_file_of_another_user_is_copied(tmp_path: Path) -> None:
    source = _jpeg_file(tmp_path)
    os.chown(source, 65534, 65534)
    original, _ = _prepare(source, tmp_path / "media")
    assert not os.path.samefile(original, source) and original.stat().st_uid == 0
