"""Opening a slide with large_image (lazily: :class:`SlideOpener`), reading regions at a scale,
and fingerprinting the file (its bytes, and a cheap ``stat`` signature that confirms a stored
fingerprint without reading them).
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import numpy as np

from ..errors import InputError, first_line, missing
from .complete import check_complete

logger = logging.getLogger(__name__)

FINGERPRINT_CHUNK = 1 << 20
TILE_CACHE_BYTES = 32 << 20


def open_slide(path: str):
    """A large_image tile source for ``path``, or an InputError saying why not."""
    if not path:
        raise InputError('no input image given; pass the slide path as the first argument')
    if not os.path.exists(path):
        raise InputError(missing('input image', path, 'check the path'))
    if os.path.isdir(path) and not os.listdir(path):
        raise InputError('input image %s is an empty folder' % path)
    if not os.access(path, os.R_OK):
        raise InputError('input image %s is not readable; check its permissions' % path)
    check_complete(path)
    import large_image

    # Each pixel is read once, so a big tile cache only costs memory (large_image's default is
    # a share of the machine's RAM); a few tens of MiB catch the file tiles that straddle two
    # blocks. This also avoids probing for a memcached that a task container does not have.
    large_image.config.minimizeCaching()
    large_image.config.setConfig('cache_python_memory_portion', max(
        256, large_image.config.total_memory() // TILE_CACHE_BYTES))
    try:
        source = large_image.open(path)
        # the metadata decodes a sample of pixels: a file cut short opens, then fails here
        metadata = source.getMetadata()
    except Exception as exc:  # large_image raises TileSourceError, PIL OSError and friends
        first = first_line(exc) or type(exc).__name__
        raise InputError('cannot read %s as an image (%s); use a whole-slide or tiled image '
                         'format that large_image opens (svs, tiff, ndpi, png, jpeg...)'
                         % (path, first)) from exc
    if not metadata.get('sizeX') or not metadata.get('sizeY'):
        raise InputError('input image %s has no pixels' % path)
    return source


SLIDE_METADATA_KEYS = ('sizeX', 'sizeY', 'mm_x', 'mm_y', 'magnification')
"""What a plan reads from the slide's metadata (kept in a cache so a cached click needs no
reader)."""


def slide_metadata(source) -> dict[str, Any]:
    """The part of ``source``'s metadata that a plan uses (JSON-ready)."""
    metadata = source.getMetadata()
    return {key: metadata.get(key) for key in SLIDE_METADATA_KEYS}


class SlideOpener:
    """The slide at ``path``, opened with large_image on first use of :attr:`source` (a cached
    click never needs it: large_image is not even imported)."""

    def __init__(self, path: str, source: Any = None) -> None:
        self.path = path
        if source is not None:
            self.__dict__['source'] = source

    @functools.cached_property
    def source(self) -> Any:
        return open_slide(self.path)

    @property
    def opened(self) -> bool:
        return 'source' in self.__dict__


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 from greyscale, grey+alpha, RGB or RGBA (alpha composited on white)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.dtype != np.uint8:
        pixels = _to_uint8(pixels)
    bands = pixels.shape[2]
    if bands in (2, 4):
        alpha = pixels[:, :, -1:].astype(np.float32) / 255.0
        colour = pixels[:, :, :-1].astype(np.float32)
        pixels = np.rint(colour * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        bands -= 1
    if bands == 1:
        return np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if np.issubdtype(pixels.dtype, np.integer):
        info = np.iinfo(pixels.dtype)
        return (pixels.astype(np.float64) * 255.0 / info.max).clip(0, 255).astype(np.uint8)
    return (pixels.astype(np.float64) * 255.0).clip(0, 255).astype(np.uint8)


def file_fingerprint(path: str) -> str:
    """A cheap identity for an image's bytes: its size and SHA-256 of its first, middle and last
    MiB (of each file, with its name inside the folder, for a folder).

    Reader-independent (it hashes bytes, not decoded pixels), so the same file gives the same
    fingerprint in a container, a notebook and on the Girder assetstore; the file's own name
    is not part of it, so a byte-identical copy under another name has the same fingerprint.
    """
    return file_fingerprints(path)[0]


def legacy_fingerprint(path: str) -> str:
    """The fingerprint of version 0.1, which also hashed a single file's name: caches written
    then still match the same file under the same name (:func:`file_fingerprints`)."""
    return file_fingerprints(path)[1]


def file_fingerprints(path: str) -> tuple[str, str]:
    """``(fingerprint, legacy fingerprint)`` from one read (equal for a folder: the names of
    the files inside it were and are part of both)."""
    import hashlib  # OpenSSL's import is ~10 ms: a click whose stat matches never hashes

    digests = hashlib.sha256(), hashlib.sha256()
    paths = [path]
    folder = os.path.isdir(path)
    if folder:
        paths = sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                       for name in names)
    for item in paths:
        size = os.path.getsize(item)
        named = ('%s:%d;' % (os.path.basename(item), size)).encode()
        digests[0].update(named if folder else b'%d;' % size)
        digests[1].update(named)
        with open(item, 'rb') as handle:
            for offset in sorted({0, max(0, size // 2 - FINGERPRINT_CHUNK // 2),
                                  max(0, size - FINGERPRINT_CHUNK)}):
                handle.seek(offset)
                chunk = handle.read(FINGERPRINT_CHUNK)
                for digest in digests:
                    digest.update(chunk)
    return tuple('sha256:' + digest.hexdigest()[:32] for digest in digests)


def file_stat(path: str) -> list[list]:
    """A cheap signature of the image's bytes: ``[name, size, mtime_ns, inode, ctime_ns]`` of
    the file (of every file, for a folder). When it equals the signature stored beside a
    fingerprint, that fingerprint is trusted without reading the file; otherwise the
    fingerprint is recomputed (:func:`file_fingerprint`) and compared.

    Name, size and mtime alone (make's and rsync's test) let a rewritten file whose mtime was
    set back pass as unchanged; ``ctime`` cannot be set back by a user (a write, ``touch`` or
    ``os.utime`` moves it), and the inode changes when a file is replaced by a rename. The
    same ``os.stat`` call gives all five: the check costs nothing more."""
    paths = [path]
    if os.path.isdir(path):
        paths = sorted(os.path.join(root, name) for root, _, names in os.walk(path)
                       for name in names)
    out = []
    for item in paths:
        info = os.stat(item)
        out.append([os.path.relpath(item, path) if item != path else os.path.basename(item),
                    info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns])
    return out


def read_region(source, left: float, top: float, width: int, height: int,
                factor: float) -> np.ndarray:
    """RGB uint8 ``(height, width, 3)`` model-scale pixels whose top-left is base ``(left, top)``.

    One model pixel spans ``factor`` base pixels. Whatever lies outside the image is white
    (glass). large_image picks the pyramid level and resamples.
    """
    meta = source.getMetadata()
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    x0, y0 = max(0.0, left), max(0.0, top)
    x1 = min(float(meta['sizeX']), left + width * factor)
    y1 = min(float(meta['sizeY']), top + height * factor)
    if x1 <= x0 or y1 <= y0:
        return canvas
    out_w = min(width, max(1, round((x1 - x0) / factor)))
    out_h = min(height, max(1, round((y1 - y0) / factor)))
    region = dict(left=int(round(x0)), top=int(round(y0)),
                  width=max(1, int(round(x1 - x0))), height=max(1, int(round(y1 - y0))))
    kwargs = {}
    if abs(factor - 1.0) > 1e-6:
        kwargs['output'] = dict(maxWidth=out_w, maxHeight=out_h)
    pixels = _pixels(source, 'the region at x=%d, y=%d' % (region['left'], region['top']),
                     region=region, **kwargs)
    pixels = to_rgb(pixels)
    pixels = _fit(pixels, out_h, out_w)
    ox = int(round((x0 - left) / factor))
    oy = int(round((y0 - top) / factor))
    h = min(out_h, height - oy)
    w = min(out_w, width - ox)
    canvas[oy:oy + h, ox:ox + w] = pixels[:h, :w]
    return canvas


def _fit(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop or edge-pad by the pixel or two that rounding in the resampler can leave."""
    pixels = pixels[:height, :width]
    pad_h, pad_w = height - pixels.shape[0], width - pixels.shape[1]
    if pad_h or pad_w:
        pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)), mode='edge')
    return pixels


def thumbnail(source, width: int, height: int) -> np.ndarray:
    """RGB uint8 image of the whole slide fitting in ``width`` x ``height``."""
    return to_rgb(_pixels(source, 'a thumbnail',
                          output=dict(maxWidth=width, maxHeight=height)))


def _pixels(source, what: str, **region) -> np.ndarray:
    """``source.getRegion(**region)`` as an array. A slide that opened but cannot be read
    (a damaged or truncated tile) is the file's fault, said in one line, not a crash."""
    import large_image

    try:
        pixels, _ = source.getRegion(format=large_image.constants.TILE_FORMAT_NUMPY, **region)
    except MemoryError:
        raise
    except Exception as exc:  # large_image's TileSourceError, PIL's OSError, libtiff's errors
        raise InputError('could not read %s (%s: %s): the slide file is damaged or '
                         'incomplete; export or upload it again'
                         % (what, type(exc).__name__, first_line(exc) or 'no detail')) from exc
    return pixels
