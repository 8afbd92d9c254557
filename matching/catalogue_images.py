"""Image work of the catalogue import, Django-free so that it runs in worker processes.

`prepare_row_images` checks every image of one row (size, decodable, not a decompression
bomb) and makes its 254x367 copy in memory (a JPEG decoded at reduced scale where the copy
keeps full detail, see `_draft`) BEFORE writing anything, then stores the originals
and copies under their sha256 in media. A row with one bad image writes no file at all. It
returns the files it created, so that the importer can delete them again if the database then
refuses the row.

Files are written to a temporary file in `TMP_DIR` (one folder, names `b<batch>-<pid>-<n>.tmp`)
and renamed into place, so a killed import leaves only such files, which the next import
removes (`temporary_files`).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

PREPROCESSED_SIZE = (254, 367)  # (W, H), the paper's most common aspect ratio
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000
TMP_DIR = "offers/.import-tmp"  # relative to MEDIA_ROOT
_TMP_NAME = re.compile(r"^b(\d+)-\d+-\d+\.tmp$")
KEEP_IN_MEMORY = 4 * 1024 * 1024  # originals up to this size are not read twice
_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}


@dataclass(frozen=True)
class StoredImage:
    source_path: str
    original: str  # storage name relative to MEDIA_ROOT
    preprocessed: str
    checksum: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageTask:
    """One row's images (picklable: sent to a worker process)."""

    line: int
    names: tuple[str, ...]
    paths: tuple[str, ...]
    media_root: str
    batch_id: int


@dataclass(frozen=True)
class ImageResult:
    line: int
    images: tuple[StoredImage, ...] = ()
    created: tuple[str, ...] = ()  # media names this call wrote
    error: str = ""


class ImageRejected(Exception):
    pass


_Source = bytes | Path  # an original: its bytes, or its path to read it again


def prepare_row_images(task: ImageTask) -> ImageResult:
    media = Path(task.media_root)
    try:
        checked = [
            _check(name, Path(path), media)
            for name, path in zip(task.names, task.paths, strict=True)
        ]
    except ImageRejected as exc:
        return ImageResult(line=task.line, error=str(exc))
    created: list[str] = []
    images = []
    try:
        for stored, small, data in checked:
            if small is not None and _write_new(media, stored.preprocessed, small, task.batch_id):
                created.append(stored.preprocessed)
            if _write_new(media, stored.original, data, task.batch_id):
                created.append(stored.original)
            images.append(stored)
    except OSError as exc:
        for name in created:
            (media / name).unlink(missing_ok=True)
        return ImageResult(line=task.line, error=f"image could not be stored ({exc})")
    return ImageResult(line=task.line, images=tuple(images), created=tuple(created))


def _check(name: str, path: Path, media: Path) -> tuple[StoredImage, bytes | None, _Source]:
    """Check one image; its 254x367 JPEG bytes (None when that copy is already stored) and
    its original (kept in memory when small, else read again when it is stored)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImageRejected(f"image file {name!r} cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageRejected(f"image file {name!r} is not a regular file")
    if info.st_size > MAX_IMAGE_BYTES:
        raise ImageRejected(f"image file {name!r} is too large ({info.st_size} bytes)")
    if info.st_size == 0:
        raise ImageRejected(f"image file {name!r} is empty")
    data = path.read_bytes()
    checksum = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower() if path.suffix.lower() in _SUFFIXES else ".img"
    original = f"offers/original/{checksum[:2]}/{checksum}{suffix}"
    preprocessed = f"offers/254x367/{checksum[:2]}/{checksum}.jpg"
    small = None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageRejected(f"image file {name!r} is too large ({width}x{height} pixels)")
            if (media / preprocessed).is_file():
                image.verify()
            else:
                _draft(image)
                image.load()
                fitted = ImageOps.fit(
                    ImageOps.exif_transpose(image).convert("RGB"),
                    PREPROCESSED_SIZE,
                    method=Image.Resampling.BICUBIC,
                )
                buffer = io.BytesIO()
                fitted.save(buffer, format="JPEG", quality=90)
                small = buffer.getvalue()
    except ImageRejected:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise ImageRejected(f"image file {name!r} is corrupt or not an image ({exc})") from None
    source = data if len(data) <= KEEP_IN_MEMORY else path
    return StoredImage(name, original, preprocessed, checksum, width, height), small, source


def _draft(image: Image.Image) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale (DCT scaling, much cheaper than a full
    decode) as far as the centre crop of the 254x367 copy still has at least that many pixels
    (after the EXIF rotation); other formats decode in full."""
    if image.format != "JPEG":
        return
    width, height = image.size
    if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated by 90 degrees
        width, height = height, width
    scale = max(PREPROCESSED_SIZE[0] / width, PREPROCESSED_SIZE[1] / height)
    if scale >= 0.5:
        return
    size = (math.ceil(width * scale), math.ceil(height * scale))
    if image.size != (width, height):
        size = size[::-1]
    image.draft(image.mode, size)


def temporary_path(media: Path, batch_id: int) -> Path:
    folder = media / TMP_DIR
    _makedirs(folder)
    return folder / f"b{batch_id}-{os.getpid()}-{time.monotonic_ns()}.tmp"


def temporary_files(media: Path) -> list[tuple[Path, int]]:
    """Temporary files of imports (path, batch id); only names this module writes."""
    folder = media / TMP_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _TMP_NAME.match(path.name)
        if match and path.is_file():
            found.append((path, int(match.group(1))))
    return found


def _write_new(media: Path, name: str, data: _Source, batch_id: int) -> bool:
    target = media / name
    if target.is_file():
        return False
    payload = data if isinstance(data, bytes) else data.read_bytes()
    for attempt in (1, 2):
        _makedirs(target.parent)
        temporary = temporary_path(media, batch_id)
        try:
            temporary.write_bytes(payload)
            os.replace(temporary, target)
            return True
        except FileNotFoundError:  # a folder was removed since: make it again, once
            temporary.unlink(missing_ok=True)
            if attempt == 2:
                raise
            _made.discard(target.parent)
            _made.discard(media / TMP_DIR)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return True


_made: set[Path] = set()  # folders this process made or found (256 per kind at most)


def _makedirs(folder: Path) -> None:
    if folder not in _made:
        folder.mkdir(parents=True, exist_ok=True)
        _made.add(folder)
