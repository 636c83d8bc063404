"""What the colours mean: the contour levels (the calibrated cut-off and quantiles above it),
the PNG colour bar's title and ticks, and the colour key HistomicsUI shows (labelled swatches
beside the slide, one group each, which its annotation panel lists with their colour).
"""

from __future__ import annotations

import numpy as np

from ..query.similarity import SimilarityMap
from ..slide.tiling import TileGrid
from .colours import Colormap, rgba_text

HEATMAP_MAX_ALPHA = 0.7
CONTOUR_QUANTILES = (0.9, 0.99)


def contour_levels(values: np.ndarray, valid: np.ndarray,
                   cutoff: float) -> list[tuple[float, str]]:
    """(display value, label) of the contour lines: the calibrated cut-off, then the 90th and
    99th percentiles of the tissue cells' display values where they lie above it, ascending,
    duplicates dropped."""
    # the cut-off rounded down, so the line still encloses the hit at exactly the cut-off
    levels = [(floor4(cutoff), 'cut-off')] if np.isfinite(cutoff) else []
    shown = values[valid]
    for q in CONTOUR_QUANTILES:
        if shown.size:
            levels.append((round(float(np.quantile(shown, q)), 4), 'q%d' % round(q * 100)))
    levels.sort()
    kept: list[tuple[float, str]] = []
    floor = float(cutoff) if np.isfinite(cutoff) else 0.0
    for value, label in levels:
        if (0 < value < 1 and (label == 'cut-off' or value > floor + 0.01)
                and all(abs(value - v) > 0.01 for v, _ in kept)):
            kept.append((value, label))
    return kept


def floor4(value: float) -> float:
    """``value`` rounded down to 4 decimals (the precision annotations carry)."""
    return float(np.floor(float(value) * 1e4) / 1e4)


def _score_at(result: SimilarityMap, value: float) -> float:
    """The score of the cell whose display value is nearest ``value`` (for labels)."""
    scores = result.similarity[result.valid]
    if not scores.size:
        return float('nan')
    if result.scaling == 'quantile':
        return float(np.quantile(scores, float(np.clip(value, 0, 1))))
    top = float(scores.max())
    return result.threshold + value * (top - result.threshold)


def scale_legend(result: SimilarityMap, scorer: str = 'prototype'
                 ) -> tuple[str, list[tuple[float, str]]]:
    """What the display values mean: a colour-bar title and (value, label) ticks. The score is
    a cosine for the prototype scorer and a probability for the linear one; colour starts at
    the cut-off (the hits)."""
    score = 'probability' if scorer == 'linear' else 'cosine'
    if result.scaling == 'quantile':
        title = ('Similarity: percentile rank among tissue cells; coloured only from the '
                 'cut-off (the hits) up' + (', and clear at %s <= %g' % (score, result.threshold)
                                            if result.threshold > 0 else ''))
        return title, [(0.0, '0'), (0.5, '50th'), (0.9, '90th'), (1.0, '100th')]
    title = ('Probability of being like the key shapes (logistic regression)'
             if scorer == 'linear' else 'Cosine similarity to the key point(s)')
    title += '; coloured from the cut-off (the hits) up'
    return title, [(v, '%.2f' % _score_at(result, v)) for v in (0.0, 0.25, 0.5, 0.75, 1.0)]


def colour_key(grid: TileGrid, result: SimilarityMap, colormap: Colormap,
               scorer: str = 'prototype') -> list[dict]:
    """The colour scale in the viewer: one labelled swatch (a rectangle a stride wide, in a
    column just right of the slide) per step from the cut-off to the best match, each its own
    group, which HistomicsUI's annotation panel lists with its colour."""
    cutoff = result.cutoff
    if not np.isfinite(cutoff) or not result.valid.any():
        return []
    unit = 'probability' if scorer == 'linear' else 'cosine'
    step = float(grid.stride_base)
    steps = [(cutoff, 'cut-off (the hits start)'), ((cutoff + 1) / 2, 'halfway'),
             (1.0, 'best match')]
    rgb, alpha = colormap.shade(np.array([v for v, _ in steps]), HEATMAP_MAX_ALPHA, cutoff)
    elements = []
    for index, ((value, what), colour, a) in enumerate(zip(steps, rgb, alpha, strict=True)):
        exact = result.cutoff_score if index == 0 and np.isfinite(result.cutoff_score) else None
        name = 'Colour ≥ %.2f %s: %s' % (exact if exact is not None
                                          else _score_at(result, value), unit, what)
        fill = rgba_text(tuple(int(c) for c in np.rint(colour)), max(float(a), 0.2))
        elements.append({'type': 'rectangle', 'rotation': 0, 'width': step, 'height': step,
                         'center': [grid.image_width + step, (index + 0.5) * step * 1.25, 0],
                         'group': name, 'label': {'value': name}, 'lineColor': fill,
                         'lineWidth': 1, 'fillColor': fill})
    return elements
