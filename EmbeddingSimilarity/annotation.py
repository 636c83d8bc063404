"""The similarity map as a large_image annotation (one griddata heatmap) and as a PNG overlay.

The annotation satisfies what a real large_image server demands beyond its JSON schema:
``origin``, ``dx`` and ``dy`` are always present (the server answers 500 without them), colours
are ``rgba(r, g, b, a)`` with a plain decimal alpha, there are no NaNs (serialised with
``allow_nan=False``), and ``display.visible`` is true so HistomicsUI draws it at once.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from . import TOOL_ATTRIBUTE
from .atomic import write_bytes
from .errors import InputError
from .similarity import SimilarityMap
from .tiling import TileGrid, fit_size

HEATMAP_RADIUS_CELLS = 1.0
HEATMAP_MAX_ALPHA = 0.7
OVERLAY_MAX_SIDE = 1024
OVERLAY_MAX_ALPHA = 0.7

_NAMED = {'red': '#ff0000', 'green': '#00ff00', 'blue': '#0000ff', 'yellow': '#ffff00',
          'cyan': '#00ffff', 'magenta': '#ff00ff', 'black': '#000000', 'white': '#ffffff',
          'orange': '#ffa500', 'lime': '#00ff00'}


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#rgb``, ``#rrggbb``, ``rgb(r, g, b)``, ``rgba(r, g, b, a)`` or a basic name -> RGB."""
    value = (text or '').strip().lower()
    value = _NAMED.get(value, value)
    match = re.fullmatch(r'#([0-9a-f]{3}|[0-9a-f]{6})', value)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = ''.join(d * 2 for d in digits)
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    match = re.fullmatch(r'rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(,\s*[0-9.]+\s*)?\)', value)
    if match and all(int(match.group(i)) <= 255 for i in (1, 2, 3)):
        return tuple(int(match.group(i)) for i in (1, 2, 3))  # type: ignore[return-value]
    raise InputError('invalid heatmap colour %r; use #rrggbb (e.g. #ffff00), rgb(255, 255, 0) or '
                     'a basic name such as yellow' % text)


def _rgba(rgb: tuple[int, int, int], alpha: float) -> str:
    """``rgba(r, g, b, a)`` with the plain decimal alpha the annotation schema accepts."""
    text = ('%.3f' % alpha).rstrip('0').rstrip('.') if alpha not in (0, 1) else str(int(alpha))
    return 'rgba(%d, %d, %d, %s)' % (rgb[0], rgb[1], rgb[2], text)


def griddata_element(grid: TileGrid, values: np.ndarray, colour: tuple[int, int, int]) -> dict:
    """One ``griddata`` heatmap element whose grid points are the cell centres (base pixels)."""
    ox, oy = grid.origin
    flat = np.round(values.astype(np.float64), 4).ravel()
    return {
        'type': 'griddata',
        'interpretation': 'heatmap',
        'origin': [float(ox), float(oy), 0],
        'dx': float(grid.stride_base),
        'dy': float(grid.stride_base),
        'gridWidth': int(grid.cols),
        'values': [float(v) for v in flat],
        'radius': float(grid.stride_base * HEATMAP_RADIUS_CELLS),
        'scaleWithZoom': True,
        'normalizeRange': False,
        'rangeValues': [0, 0.5, 1],
        # translucent at the top too, so the tissue stays visible under the best matches
        'colorRange': [_rgba(colour, 0), _rgba(colour, 0.35), _rgba(colour, HEATMAP_MAX_ALPHA)],
    }


def build_annotation(grid: TileGrid, result: SimilarityMap, colour: tuple[int, int, int],
                     name: str, attributes: dict[str, Any]) -> dict:
    """The annotation document (what ``POST /annotation`` and a ``.anot`` file take)."""
    similarity = result.similarity[result.valid]
    description = ('Cosine similarity of %d cells to %d key point(s); %s scaling from %g.'
                   % (int(result.valid.sum()), len(result.keypoint_cells), result.scaling,
                      result.threshold))
    attrs = {TOOL_ATTRIBUTE: dict(attributes,
                                  threshold=result.threshold,
                                  scaling=result.scaling,
                                  aggregation=result.aggregation,
                                  keypointCells=[list(c) for c in result.keypoint_cells],
                                  negativeKeypointCells=[list(c) for c in result.negative_cells],
                                  similarityRange=[float(similarity.min()), float(similarity.max())]
                                  if similarity.size else None)}
    return {
        'name': name or 'Embedding similarity',
        'description': description,
        'display': {'visible': True},
        'attributes': attrs,
        'elements': [griddata_element(grid, result.values, colour)],
    }


def to_json(annotation: dict) -> str:
    return json.dumps(annotation, allow_nan=False, separators=(',', ':'))


def overlay_image(thumb: np.ndarray, grid: TileGrid, values: np.ndarray,
                  colour: tuple[int, int, int],
                  points: list[tuple[float, float]] = ()) -> np.ndarray:
    """The thumbnail with each pixel tinted by its nearest cell's value, key points ringed."""
    th, tw = thumb.shape[:2]
    sx = grid.image_width / tw
    sy = grid.image_height / th
    ox, oy = grid.origin
    cols = np.clip(np.rint(((np.arange(tw) + 0.5) * sx - ox) / grid.stride_base), 0,
                   grid.cols - 1).astype(int)
    rows = np.clip(np.rint(((np.arange(th) + 0.5) * sy - oy) / grid.stride_base), 0,
                   grid.rows - 1).astype(int)
    alpha = (values[rows[:, None], cols[None, :]] * OVERLAY_MAX_ALPHA)[..., None]
    tint = np.array(colour, dtype=np.float32)
    out = thumb.astype(np.float32) * (1 - alpha) + tint * alpha
    out = out.clip(0, 255).astype(np.uint8)
    radius = max(3, int(round(min(tw, th) / 80)))
    yy, xx = np.ogrid[:th, :tw]
    for x, y in points:
        d = np.hypot(xx - x / sx, yy - y / sy)
        ring = (d >= radius - 1.5) & (d <= radius + 1.5)
        out[ring] = (0, 0, 0)
    return out


def overlay_size(grid: TileGrid, max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    return fit_size(grid.image_width, grid.image_height, max_side)


def write_png(path: str, pixels: np.ndarray) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format='PNG')
    write_bytes(path, buffer.getvalue())
