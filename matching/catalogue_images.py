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

With links on, an original is stored as a hard link to the catalogue's file when it can be
(`_link_original`: same file system, the file owned by this user and readable by all; a link
made under a temporary name, checked to be the very file that was read and hashed, then
renamed into place), else its bytes are written. Storing 2,920 small originals on the
development machine's ext4 cost 0.26-0.36 ms of CPU each as new files, 0.04-0.06 ms as links.
The link shares the catalogue file's contents: a catalogue file overwritten in place after the
import would change the stored original too (replacing it with a new file, as most tools do,
does not). So links are opt-in (`ImageTask.link_originals`, `FASHIONID_IMPORT_LINK_ORIGINALS=1`):
by default an original is always a copy, whatever happens to the catalogue folder later.
"""

from __future__ import annotations

import contextlib
import errno
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
    link_originals: bool = False  # store originals as hard links where possible (opt-in)


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
    media = task.media_root
    try:
        checked = [
            _check(name, path, media) for name, path in zip(task.names, task.paths, strict=True)
        ]
    except ImageRejected as exc:
        return ImageResult(line=task.line, error=str(exc))
    created: list[str] = []
    images = []
    try:
        for stored, small, data, path, info in checked:
            if small is not None and _write_new(media, stored.preprocessed, small, task.batch_id):
                created.append(stored.preprocessed)
            linked = (
                _link_original(media, stored.original, path, info, task.batch_id)
                if task.link_originals
                else None
            )
            if linked is None:
                linked = _write_new(media, stored.original, data, task.batch_id)
            if linked:
                created.append(stored.original)
            images.append(stored)
    except OSError as exc:
        for name in created:
            _unlink(os.path.join(media, name))
        return ImageResult(line=task.line, error=f"image could not be stored ({exc})")
    return ImageResult(line=task.line, images=tuple(images), created=tuple(created))


def _check(
    name: str, path: str, media: str
) -> tuple[StoredImage, bytes | None, _Source, str, os.stat_result]:
    """Check one image; its 254x367 JPEG bytes (None when that copy is already stored), its
    original (kept in memory when small, else read again when it is stored), its path and the
    stat of the file that was read."""
    data, info = _read_regular_file(name, path)
    checksum = hashlib.sha256(data).hexdigest()
    suffix = os.path.splitext(path)[1].lower()
    suffix = suffix if suffix in _SUFFIXES else ".img"
    original = f"offers/original/{checksum[:2]}/{checksum}{suffix}"
    preprocessed = f"offers/254x367/{checksum[:2]}/{checksum}.jpg"
    small = None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageRejected(f"image file {name!r} is too large ({width}x{height} pixels)")
            if _stored(os.path.join(media, preprocessed)):
                image.verify()
            else:
                small = _small_copy(image)
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
    source = data if len(data) <= KEEP_IN_MEMORY else Path(path)
    stored = StoredImage(name, original, preprocessed, checksum, width, height)
    return stored, small, source, path, info


def _read_regular_file(name: str, path: str) -> tuple[bytes, os.stat_result]:
    """The file's bytes and its fstat. Checked with stat before it is opened (a FIFO or a
    device is never opened), and with fstat once open (it may have been swapped in between);
    read with `os.read` into one buffer."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ImageRejected(f"image file {name!r} cannot be read ({exc.strerror})") from None
    _check_size(name, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageRejected(f"image file {name!r} cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        _check_size(name, info)
        parts = []
        left = MAX_IMAGE_BYTES + 1  # a file that grew past the limit since fstat is refused
        while left > 0:
            part = os.read(fd, min(left, max(info.st_size + 1, 1 << 16)))
            if not part:
                break
            parts.append(part)
            left -= len(part)
    except OSError as exc:
        raise ImageRejected(f"image file {name!r} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    data = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageRejected(f"image file {name!r} is too large ({len(data)} bytes)")
    if not data:
        raise ImageRejected(f"image file {name!r} is empty")
    return data, info


def _check_size(name: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ImageRejected(f"image file {name!r} is not a regular file")
    if info.st_size > MAX_IMAGE_BYTES:
        raise ImageRejected(f"image file {name!r} is too large ({info.st_size} bytes)")
    if info.st_size == 0:
        raise ImageRejected(f"image file {name!r} is empty")


def _small_copy(image: Image.Image) -> bytes:
    """The 254x367 JPEG: the centre crop of the upright picture, bicubic, quality 90. The
    decoded picture is turned and converted in place (no copies when it is upright RGB)."""
    _draft(image)
    image.load()
    ImageOps.exif_transpose(image, in_place=True)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    fitted = ImageOps.fit(rgb, PREPROCESSED_SIZE, method=Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    fitted.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


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


def temporary_path(media: Path | str, batch_id: int) -> str:
    folder = os.path.join(media, TMP_DIR)
    _makedirs(folder)
    return os.path.join(folder, f"b{batch_id}-{os.getpid()}-{time.monotonic_ns()}.tmp")


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


def _write_new(media: str, name: str, data: _Source, batch_id: int) -> bool:
    target = os.path.join(media, name)
    payload = data if isinstance(data, bytes) else None
    if _stored(target, len(payload) if payload is not None else None):
        return False
    if payload is None:
        payload = data.read_bytes()
    folder = os.path.dirname(target)
    for attempt in (1, 2):
        _makedirs(folder)
        temporary = temporary_path(media, batch_id)
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temporary, target)
            return True
        except FileNotFoundError:  # a folder was removed since: make it again, once
            _unlink(temporary)
            if attempt == 2:
                raise
            _made.discard(folder)
            _made.discard(os.path.join(media, TMP_DIR))
        except BaseException:
            _unlink(temporary)
            raise
    return True


def _link_original(
    media: str, name: str, path: str, info: os.stat_result, batch_id: int
) -> bool | None:
    """Store an original as a hard link to the catalogue file `path` that was read and hashed
    (`info`: its fstat then). True: linked; False: already stored; None: cannot be linked
    here (another file system or owner, not readable by all, changed since it was read): the
    caller writes the bytes instead. The link is made under a temporary name and checked to be
    the same, unchanged file (device, inode, size, modification time) before it is renamed
    into place, so the stored name never points at other contents than the checksum's."""
    target = os.path.join(media, name)
    if _stored(target, info.st_size):
        return False
    if (
        info.st_dev in _unlinkable_devices
        or info.st_uid != os.geteuid()
        or info.st_mode & 0o444 != 0o444
    ):
        return None
    folder = os.path.dirname(target)
    _makedirs(folder)
    temporary = temporary_path(media, batch_id)
    try:
        os.link(path, temporary, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _unlinkable_devices.add(info.st_dev)
        return None  # EXDEV, EPERM, EMLINK, a file gone since: the bytes are written instead
    try:
        now = os.lstat(temporary)
        same = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == (
            info.st_dev,
            info.st_ino,
            info.st_size,
            info.st_mtime_ns,
        )
        if not same:
            _unlink(temporary)
            return None
        os.replace(temporary, target)
    except FileNotFoundError:  # the folder was removed since: let the copy make it again
        _unlink(temporary)
        _made.discard(folder)
        return None
    except BaseException:
        _unlink(temporary)
        raise
    return True


_unlinkable_devices: set[int] = set()  # catalogue file systems that are not media's


def _stored(path: str, size: int | None = None) -> bool:
    """Whether `path` is a stored file: a regular file of `size` bytes (any size but 0 when
    not given). Files are not fsynced one by one: a machine that crashed may leave a file
    empty or short, which the next import then writes again instead of skipping it."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and (
        info.st_size == size if size is not None else info.st_size > 0
    )


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_made: set[str] = set()  # folders this process made or found (256 per kind at most)


def _makedirs(folder: str) -> None:
    if folder not in _made:
        os.makedirs(folder, exist_ok=True)
        _made.add(folder)
