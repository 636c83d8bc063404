"""Where the tiles are: the model's scale on this slide, and the grid of cells in base pixels.

All geometry is exact and float-valued in base-image pixels, so every consumer (reader, tissue
mask, similarity, annotation) agrees on where cell ``(row, col)`` lies:

* ``factor`` = base pixels per model pixel (2.0 for a 0.25 µm/px slide and a 0.5 µm/px model);
* cell ``(r, c)`` covers ``[c * stride, c * stride + tile)`` model pixels horizontally, i.e.
  ``[c * stride * factor, (c * stride + tile) * factor)`` base pixels;
* its centre is ``((c * stride + tile / 2) * factor, (r * stride + tile / 2) * factor)``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable

import numpy as np

from ..errors import InputError

logger = logging.getLogger(__name__)

ASSUMED_MAGNIFICATION = 20.0
ASSUMED_MPP = 0.5
MPP_TIMES_MAGNIFICATION = ASSUMED_MPP * ASSUMED_MAGNIFICATION  # 20x ~ 0.5 µm/px
# Outside these ranges the metadata is not a real scan resolution (a 72-dpi file claims
# 352.8 µm/px, i.e. magnification 0.028).
PLAUSIBLE_MPP = (0.02, 10.0)
PLAUSIBLE_MAGNIFICATION = (1.0, 400.0)
MAX_CELLS = 50_000_000
# A target scale within 3% of a power-of-two downsample of the slide is read at that downsample
# exactly: 0.499 µm/px scanned for a 0.5 µm/px model, or 0.2527 (40x) read at 2x. Resampling
# by a fraction of a percent changes nothing a model can see but costs most of the read time.
SNAP_TOLERANCE = 0.03


@dataclasses.dataclass(frozen=True)
class Scale:
    """The resolution tiles are cut at, and how it was decided."""

    factor: float
    """Base-image pixels per model pixel."""
    mpp: float | None
    """Micrometres per model pixel (None when the slide has no usable µm/px)."""
    magnification: float | None
    source: str
    """'mpp', 'magnification' or 'assumed' (no usable metadata: the slide is taken as 20x)."""
    slide_mpp: float | None
    slide_magnification: float | None
    requested_factor: float | None = None
    """The exact factor before snapping to a power-of-two downsample (None = not snapped)."""


def snap_factor(factor: float, tolerance: float = SNAP_TOLERANCE) -> float:
    """``factor`` rounded to the nearest power of two when within ``tolerance`` of it."""
    if factor <= 0:
        return factor
    nearest = 2.0 ** round(math.log2(factor))
    return nearest if abs(factor / nearest - 1.0) <= tolerance else factor


def _snapped(scale: Scale) -> Scale:
    factor = snap_factor(scale.factor)
    if factor == scale.factor:
        return scale
    ratio = factor / scale.factor
    return dataclasses.replace(
        scale, factor=factor, requested_factor=scale.factor,
        mpp=scale.mpp * ratio if scale.mpp else None,
        magnification=scale.magnification / ratio if scale.magnification else None)


def _plausible(value: float | None, bounds: tuple[float, float]) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or not bounds[0] <= value <= bounds[1]:
        return None
    return value


def resolve_scale(metadata: dict, model_mpp: float | None, model_magnification: float | None,
                  mpp: float | None = None, magnification: float | None = None) -> Scale:
    """The scale to embed at, snapped to a power-of-two downsample when within 3% of one."""
    return _snapped(_exact_scale(metadata, model_mpp, model_magnification, mpp, magnification))


def _exact_scale(metadata: dict, model_mpp: float | None, model_magnification: float | None,
                 mpp: float | None = None, magnification: float | None = None) -> Scale:
    """Choose the resolution to embed at.

    ``mpp`` / ``magnification`` are the user's overrides (None or <= 0 = use the model's).
    µm/px is used when the slide has it; else magnification; else the slide is assumed to be
    20x (0.5 µm/px), with a warning from the caller, because otherwise large_image would
    silently ignore the requested scale. Where only one of µm/px and magnification is known
    on one side, they are related by the usual 20x = 0.5 µm/px.
    """
    if mpp and mpp > 0:
        want_mpp, want_mag = float(mpp), None
    elif magnification and magnification > 0:
        want_mpp, want_mag = None, float(magnification)
    else:
        want_mpp, want_mag = model_mpp, model_magnification
    if not want_mpp and not want_mag:
        want_mpp = ASSUMED_MPP
    mm_x = metadata.get('mm_x')
    slide_mpp = _plausible(mm_x * 1000.0 if mm_x else None, PLAUSIBLE_MPP)
    slide_mag = _plausible(metadata.get('magnification'), PLAUSIBLE_MAGNIFICATION)
    if slide_mpp and want_mpp:
        return Scale(want_mpp / slide_mpp, want_mpp, want_mag, 'mpp', slide_mpp, slide_mag)
    if slide_mag and want_mag:
        return Scale(slide_mag / want_mag, want_mpp, want_mag, 'magnification', slide_mpp,
                     slide_mag)
    target_mpp = want_mpp or MPP_TIMES_MAGNIFICATION / want_mag
    target_mag = want_mag or MPP_TIMES_MAGNIFICATION / want_mpp
    if slide_mpp:
        return Scale(target_mpp / slide_mpp, target_mpp, target_mag, 'mpp', slide_mpp, slide_mag)
    if slide_mag:
        return Scale(slide_mag / target_mag, target_mpp, target_mag, 'magnification', slide_mpp,
                     slide_mag)
    return Scale(target_mpp / ASSUMED_MPP, target_mpp, target_mag, 'assumed', None, None)


@dataclasses.dataclass(frozen=True)
class TileGrid:
    """A regular grid of square cells over the slide."""

    image_width: int
    image_height: int
    tile: int
    """Tile side in model pixels."""
    stride: int
    """Distance between neighbouring cells in model pixels."""
    factor: float
    """Base pixels per model pixel."""
    rows: int
    cols: int

    @property
    def tile_base(self) -> float:
        return self.tile * self.factor

    @property
    def stride_base(self) -> float:
        return self.stride * self.factor

    @property
    def origin(self) -> tuple[float, float]:
        """Base-pixel centre of cell (0, 0)."""
        half = self.tile_base / 2.0
        return (half, half)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    def cell_center(self, row: int, col: int) -> tuple[float, float]:
        ox, oy = self.origin
        return (ox + col * self.stride_base, oy + row * self.stride_base)

    def cell_box(self, row: int, col: int) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` in base pixels (may extend past the image)."""
        left = col * self.stride_base
        top = row * self.stride_base
        return (left, top, left + self.tile_base, top + self.tile_base)

    def cell_of_point(self, x: float, y: float) -> tuple[int, int]:
        """The cell whose centre is nearest the base-pixel point ``(x, y)``."""
        ox, oy = self.origin
        col = int(np.clip(round((x - ox) / self.stride_base), 0, self.cols - 1))
        row = int(np.clip(round((y - oy) / self.stride_base), 0, self.rows - 1))
        return row, col

    def cells_of_points(self, points: Iterable[tuple[float, float]]) -> list[tuple[int, int]]:
        """The cell under each base-pixel point."""
        return [self.cell_of_point(x, y) for x, y in points]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def fit_size(width: int, height: int, side: int) -> tuple[int, int]:
    """``width x height`` scaled down (never up) so its longer side is at most ``side``."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def cells_along(length_model_px: float, tile: int, stride: int) -> int:
    """Cells needed to cover ``length`` model pixels; the last cell may run past the edge."""
    if length_model_px <= tile:
        return 1
    return int(math.ceil((length_model_px - tile) / stride - 1e-9)) + 1


def plan_grid(image_width: int, image_height: int, tile: int, stride: int,
              factor: float) -> TileGrid:
    """The grid of ``tile``-pixel cells every ``stride`` model pixels covering the whole image.

    Cells at the right and bottom edges may extend past the image; the reader pads them with
    white (glass), and the tissue mask counts the padding as glass.
    """
    if tile < 8 or tile > 4096:
        raise InputError('tile size %d is out of range; use 8 to 4096 pixels (224 suits most '
                         'models)' % tile)
    if stride < 1 or stride > 4096:
        raise InputError('stride %d is out of range; use 1 to 4096 pixels (0 = tile size)'
                         % stride)
    if image_width < 1 or image_height < 1:
        raise InputError('the image is empty (%d x %d pixels)' % (image_width, image_height))
    cols = cells_along(image_width / factor, tile, stride)
    rows = cells_along(image_height / factor, tile, stride)
    if rows * cols > MAX_CELLS:
        raise InputError('the grid would have %d x %d = %d cells; increase the stride or the '
                         'scale (µm/px)' % (rows, cols, rows * cols))
    return TileGrid(int(image_width), int(image_height), int(tile), int(stride), float(factor),
                    rows, cols)
