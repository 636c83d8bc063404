"""Writers for the test slides: real tissue at other resolutions, and position-encoding ramps."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_SLIDE = os.path.join(HERE, 'data', 'cmu_small_region.svs')
SAMPLE_MPP = 0.499


def read_sample() -> np.ndarray:
    """The sample slide's full-resolution RGB pixels."""
    import large_image

    large_image.config.setConfig('cache_backend', 'python')
    source = large_image.open(SAMPLE_SLIDE)
    pixels, _ = source.getRegion(format=large_image.constants.TILE_FORMAT_NUMPY)
    return np.ascontiguousarray(pixels[:, :, :3])


def resize(pixels: np.ndarray, factor: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.BICUBIC))


def write_pyramid(path: str, pixels: np.ndarray, mpp: float | None,
                  compression: str = 'jpeg') -> str:
    """A tiled pyramidal TIFF (sub-IFDs) with µm/px in its resolution tags (None = no scale)."""
    import tifffile

    levels = [pixels]
    while max(levels[-1].shape[:2]) > 512:
        last = levels[-1]
        levels.append(np.asarray(Image.fromarray(last).resize(
            (last.shape[1] // 2, last.shape[0] // 2), Image.BOX)))
    options = dict(tile=(256, 256), compression=compression, photometric='rgb')
    if compression == 'jpeg':
        options['compressionargs'] = {'level': 95}
    with tifffile.TiffWriter(path) as writer:
        for index, level in enumerate(levels):
            extra = {}
            if mpp:
                per_cm = 1e4 / (mpp * pixels.shape[1] / level.shape[1])
                extra = dict(resolution=(per_cm, per_cm), resolutionunit='CENTIMETER')
            if index == 0:
                writer.write(level, subifds=len(levels) - 1, **options, **extra)
            else:
                writer.write(level, subfiletype=1, **options, **extra)
    return path


def damage_a_tile(path: str) -> str:
    """Overwrite the middle full-resolution tile of a tiled TIFF with random bytes, as a disk
    error or an interrupted copy would: the slide opens, its thumbnail (a lower level) reads,
    and that tile does not decode."""
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        middle = len(page.dataoffsets) // 2
        offset, size = page.dataoffsets[middle], page.databytecounts[middle]
    with open(path, 'r+b') as handle:
        handle.seek(offset)
        handle.write(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def ramp(width: int, height: int) -> np.ndarray:
    """RGB whose red encodes x / width and green encodes y / height (blue constant)."""
    xs = np.linspace(0, 255, width, dtype=np.float32)
    ys = np.linspace(0, 255, height, dtype=np.float32)
    red = np.broadcast_to(xs[None, :], (height, width))
    green = np.broadcast_to(ys[:, None], (height, width))
    blue = np.full((height, width), 128, dtype=np.float32)
    return np.rint(np.stack([red, green, blue], axis=2)).astype(np.uint8)
