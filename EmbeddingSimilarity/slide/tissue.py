"""Which grid cells hold tissue: a low-resolution optical-density mask, summed per cell.

Glass is bright and unstained (optical density near 0.02); tissue of any stain absorbs light.
The mask thresholds the largest per-channel optical density with Otsu's method, kept within
bounds so that a slide that is all tissue (or all glass) is not split in two. Each cell's tissue
fraction is then read off a summed-area table, so the whole grid costs one pass over a
thumbnail. Area outside the image counts as glass.
"""

from __future__ import annotations

import numpy as np

from .source import thumbnail
from .tiling import TileGrid, fit_size

THUMBNAIL_PX_PER_CELL = 8
THUMBNAIL_SIDE = (512, 4096)
OD_THRESHOLD_BOUNDS = (0.06, 0.2)


def optical_density(rgb: np.ndarray) -> np.ndarray:
    """Largest per-channel optical density (log10) of an RGB uint8 image."""
    lut = -np.log10((np.arange(256, dtype=np.float32) + 1.0) / 256.0)
    return lut[rgb].max(axis=2)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a 1-D sample."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(hist * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(centres[int(np.argmax(between))])


def tissue_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean tissue mask of an RGB thumbnail."""
    od = optical_density(rgb)
    if od.size == 0:
        return np.zeros(od.shape, dtype=bool)
    threshold = float(np.clip(otsu_threshold(od.ravel()), *OD_THRESHOLD_BOUNDS))
    return od > threshold


def thumbnail_size(grid: TileGrid) -> tuple[int, int]:
    """A thumbnail with about ``THUMBNAIL_PX_PER_CELL`` pixels per cell stride."""
    per_cell = max(grid.rows, grid.cols) * THUMBNAIL_PX_PER_CELL
    return fit_size(grid.image_width, grid.image_height, int(np.clip(per_cell, *THUMBNAIL_SIDE)))


def cell_fractions(mask: np.ndarray, grid: TileGrid) -> np.ndarray:
    """Fraction of each cell's area that is tissue, ``(rows, cols)`` float32.

    ``mask`` covers the whole image at any resolution; cells are mapped onto it by the ratio of
    its size to the image's, and the part of a cell outside the image counts as glass.
    """
    mh, mw = mask.shape
    sx = mw / grid.image_width
    sy = mh / grid.image_height
    table = np.zeros((mh + 1, mw + 1), dtype=np.float64)
    table[1:, 1:] = np.cumsum(np.cumsum(mask, axis=0, dtype=np.float64), axis=1)
    cols = np.arange(grid.cols)
    rows = np.arange(grid.rows)
    left = cols * grid.stride_base * sx
    top = rows * grid.stride_base * sy
    width = grid.tile_base * sx
    height = grid.tile_base * sy
    x0 = np.clip(np.rint(left), 0, mw).astype(int)
    x1 = np.clip(np.rint(left + width), 0, mw).astype(int)
    y0 = np.clip(np.rint(top), 0, mh).astype(int)
    y1 = np.clip(np.rint(top + height), 0, mh).astype(int)
    # cells smaller than a thumbnail pixel still sample the pixel they fall in
    x1 = np.maximum(x1, np.minimum(x0 + 1, mw))
    y1 = np.maximum(y1, np.minimum(y0 + 1, mh))
    inside = (table[y1[:, None], x1[None, :]] - table[y0[:, None], x1[None, :]]
              - table[y1[:, None], x0[None, :]] + table[y0[:, None], x0[None, :]])
    full_area = np.maximum(width, 1.0) * np.maximum(height, 1.0)
    return (inside / full_area).clip(0.0, 1.0).astype(np.float32)


def tissue_fractions(source, grid: TileGrid) -> np.ndarray:
    """The tissue share of every cell of ``grid``, from a thumbnail of the open ``source``."""
    width, height = thumbnail_size(grid)
    return cell_fractions(tissue_mask(thumbnail(source, width, height)), grid)
