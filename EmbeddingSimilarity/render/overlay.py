"""The slide thumbnail tinted by a heatmap (heatmap, choropleth or contour display) or a
cluster map, key points ringed and key regions outlined, and the PNG file; :mod:`.picture` adds
the legend around it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from ..atomic import write_bytes
from ..slide.tiling import TileGrid, fit_size
from ..slide.tissue import tissue_mask
from .colours import RGB, Colormap

OVERLAY_MAX_SIDE = 1024
OVERLAY_MAX_ALPHA = 0.7
CLUSTER_ALPHA = 0.45
DISPLAYS = ('heatmap', 'choropleth', 'contour')
KEY_REGION_INK, NEGATIVE_REGION_INK = (0, 0, 0), (200, 0, 200)
HIT_INK = (0, 170, 190)
"""The hits' outline (the viewer draws the hit polygons in cyan)."""


def overlay_size(grid: TileGrid, max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    return fit_size(grid.image_width, grid.image_height, max_side)


def write_png(path: str, pixels: np.ndarray, colours: int = 0) -> None:
    """Write an RGB PNG; ``colours`` > 0 stores it with that many palette colours (about a
    third of the size, for pictures that ship in the docs)."""
    from PIL import Image

    image = Image.fromarray(pixels)
    if colours:
        image = image.quantize(colors=colours, method=Image.Quantize.FASTOCTREE,
                               dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format='PNG', optimize=True)
    write_bytes(path, buffer.getvalue())


def _nearest_cells(grid: TileGrid, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index of the cell whose centre is nearest each thumbnail row / column."""
    sx, sy = grid.image_width / width, grid.image_height / height
    ox, oy = grid.origin
    cols = np.clip(np.rint(((np.arange(width) + 0.5) * sx - ox) / grid.stride_base), 0,
                   grid.cols - 1).astype(int)
    rows = np.clip(np.rint(((np.arange(height) + 0.5) * sy - oy) / grid.stride_base), 0,
                   grid.rows - 1).astype(int)
    return rows, cols


def _smooth(grid: TileGrid, values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Cell values bilinearly interpolated between cell centres onto the thumbnail."""
    sx, sy = grid.image_width / width, grid.image_height / height
    ox, oy = grid.origin

    def axis(n: int, scale: float, origin: float, cells: int):
        pos = np.clip(((np.arange(n) + 0.5) * scale - origin) / grid.stride_base, 0, cells - 1)
        low = np.minimum(np.floor(pos).astype(int), max(cells - 2, 0))
        return low, np.minimum(low + 1, cells - 1), (pos - low).astype(np.float32)

    r0, r1, fr = axis(height, sy, oy, grid.rows)
    c0, c1, fc = axis(width, sx, ox, grid.cols)
    v = np.nan_to_num(values.astype(np.float32))
    top = v[r0][:, c0] * (1 - fc) + v[r0][:, c1] * fc
    bottom = v[r1][:, c0] * (1 - fc) + v[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def _blend(thumb: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = thumb.astype(np.float32) * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return out.clip(0, 255).astype(np.uint8)


def _ring_points(out: np.ndarray, grid: TileGrid, points: Sequence[tuple[float, float]]) -> None:
    th, tw = out.shape[:2]
    sx, sy = grid.image_width / tw, grid.image_height / th
    radius = max(3, int(round(min(tw, th) / 80)))
    yy, xx = np.ogrid[:th, :tw]
    for x, y in points:
        d = np.hypot(xx - x / sx, yy - y / sy)
        out[(d >= radius - 1.5) & (d <= radius + 1.5)] = (0, 0, 0)
        out[(d > radius + 1.5) & (d <= radius + 2.5)] = (255, 255, 255)


def _outline_regions(out: np.ndarray, grid: TileGrid,
                     regions: Sequence[Sequence[tuple[float, float]]], ink: RGB) -> None:
    """Each region (its vertices in base pixels) outlined in ``ink`` on a white halo."""
    if not regions:
        return
    from PIL import Image, ImageDraw

    th, tw = out.shape[:2]
    sx, sy = grid.image_width / tw, grid.image_height / th
    image = Image.fromarray(out)
    draw = ImageDraw.Draw(image)
    for vertices in regions:
        ring = [(x / sx, y / sy) for x, y in vertices]
        ring.append(ring[0])
        draw.line(ring, fill=(255, 255, 255), width=5, joint='curve')
        draw.line(ring, fill=ink, width=2, joint='curve')
    out[:] = np.asarray(image)


def overlay_image(thumb: np.ndarray, grid: TileGrid, values: np.ndarray,
                  colour: tuple[int, int, int],
                  points: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """The thumbnail with each pixel tinted by its nearest cell's value, key points ringed."""
    rows, cols = _nearest_cells(grid, thumb.shape[1], thumb.shape[0])
    alpha = values[rows[:, None], cols[None, :]].astype(np.float32) * OVERLAY_MAX_ALPHA
    out = _blend(thumb, np.array(colour, dtype=np.float32), alpha)
    _ring_points(out, grid, points)
    return out


def _iso_lines(field: np.ndarray, level: float) -> np.ndarray:
    """Pixels on the boundary of ``field >= level``, two pixels wide."""
    above = field >= level
    edge = np.zeros_like(above)
    edge[:-1] |= above[:-1] != above[1:]
    edge[:, :-1] |= above[:, :-1] != above[:, 1:]
    thick = edge.copy()
    thick[1:] |= edge[:-1]
    thick[:, 1:] |= edge[:, :-1]
    return thick


def tint_similarity(thumb: np.ndarray, grid: TileGrid, values: np.ndarray, colormap: Colormap,
                    display: str = 'heatmap', levels: Sequence[float] = (),
                    points: Sequence[tuple[float, float]] = (),
                    regions: Sequence[Sequence[tuple[float, float]]] = (),
                    negative_regions: Sequence[Sequence[tuple[float, float]]] = (),
                    cutoff: float = 0.0) -> np.ndarray:
    """The thumbnail under the similarity values as ``display`` shows them.

    Only tissue pixels whose nearest cell has a value (a hit: ``values`` are 0 below the
    ``cutoff`` and on glass) are coloured, so the coloured area is the hit cells' tissue;
    with a cut-off, the hit cells are outlined in :data:`HIT_INK`. heatmap: smooth (bilinear
    between cell centres, never below the cut-off inside a hit cell); choropleth: each cell's
    own value; contour: iso-lines at ``levels`` over a light tint. Key points are ringed, key
    regions outlined (negative ones in magenta).
    """
    th, tw = thumb.shape[:2]
    start = float(cutoff) if np.isfinite(cutoff) else 0.0
    rows, cols = _nearest_cells(grid, tw, th)
    field = values[rows[:, None], cols[None, :]].astype(np.float32)
    coloured = field > 0
    if display != 'choropleth':
        field = np.where(coloured, np.maximum(_smooth(grid, values, tw, th), start), 0.0)
    max_alpha = OVERLAY_MAX_ALPHA / 2 if display == 'contour' else OVERLAY_MAX_ALPHA
    rgb, alpha = colormap.shade(field, max_alpha, start)
    out = _blend(thumb, rgb, alpha * tissue_mask(thumb))
    if start > 0:  # the hits' outline: the border of the cells at or above the cut-off
        out[_iso_lines(coloured.astype(np.float32), 0.5)] = HIT_INK
    if display == 'contour':
        for level in levels:
            if level <= start + 1e-3:
                continue  # the cut-off's line is the hits' outline, drawn below
            line = _iso_lines(field, level)
            colour = colormap.shade(np.array([max(level, 1e-3)]), 1.0, start)[0][0]
            out[line] = np.rint(colour * 0.6).astype(np.uint8)  # darker than the tint
    _ring_points(out, grid, points)
    _outline_regions(out, grid, regions, KEY_REGION_INK)
    _outline_regions(out, grid, negative_regions, NEGATIVE_REGION_INK)
    return out


def tint_clusters(thumb: np.ndarray, grid: TileGrid, labels: np.ndarray,
                  colours: Sequence[RGB]) -> np.ndarray:
    """Each tissue pixel of the thumbnail in its nearest cell's cluster colour (glass stays
    clear), cluster borders in dark grey."""
    th, tw = thumb.shape[:2]
    rows, cols = _nearest_cells(grid, tw, th)
    field = labels[rows[:, None], cols[None, :]]
    palette = np.array(list(colours) + [(0, 0, 0)], dtype=np.float32)
    rgb = palette[np.where(field >= 0, field, len(colours))]
    out = _blend(thumb, rgb, np.where((field >= 0) & tissue_mask(thumb), CLUSTER_ALPHA,
                                      0.0).astype(np.float32))
    border = np.zeros(field.shape, dtype=bool)
    border[:-1] |= field[:-1] != field[1:]
    border[:, :-1] |= field[:, :-1] != field[:, 1:]
    out[border] = (60, 60, 60)
    return out
