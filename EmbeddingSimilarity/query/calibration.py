"""Scores a pathologist can defend: each cell's percentile among the slide's own tissue scores,
the score distribution, a baseline, a suggested cut-off and what lies above it.

The cut-off is computed here once, in score units, and every output shows this one number
(the PNG, the contour line, the annotation names and description, the hits), converted to
display units by :func:`shown`. The rule, the largest of:

* Otsu's threshold (256 bins) of the tissue cells' scores *outside the key shapes' own cells*
  (the clicked cell scores 1 against itself; left in, Otsu often splits it from everything else,
  and a neighbouring click on the same tissue then gave 1 cell or half the slide);
* the unrelated-tissue baseline: the 95th percentile of the cosine of random pairs of tissue
  cells, when the score is a plain cosine to image cells (prototype scorer, no negative shapes,
  no prompts, no aggregation), so a hit is more alike to the query than 95% of random tissue is
  to other tissue;
* the median tissue score (a cap: hits are never more than half the tissue).

When every score is equal there is nothing to split and no cell is a hit. Hits are the tissue
cells at or above the cut-off; regions are their 4-connected components; the area counts each
hit cell as one stride x stride square (cells do not overlap), in mm² when µm/px is known, else
in pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..cache.integrity import gather_cells
from ..slide.tiling import TileGrid
from .components import label
from .similarity import SimilarityMap, display_value

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
BASELINE_PAIRS = 2000
BASELINE_BLOCK = 256


@dataclasses.dataclass
class Calibration:
    cutoff: float
    """Suggested cut-off in score units (NaN when the scores cannot be split)."""
    cutoff_percentile: float
    quantiles: dict[str, float]
    baseline: dict[str, float]
    """Cosine of random pairs of tissue cells: what "unrelated tissue" scores."""
    hits: np.ndarray
    """Tissue cells at or above the cut-off."""
    regions: int
    area: float
    area_unit: str
    tissue_share: float
    rule: str = 'Otsu (256 bins)'
    """How the cut-off was chosen (which of the rule's terms set it)."""

    def outputs(self) -> dict[str, float | int | str]:
        """The Slicer simple outputs (name = value)."""
        return {'suggestedCutoff': _round(self.cutoff),
                'cutoffPercentile': _round(self.cutoff_percentile),
                'hitArea': _round(self.area), 'hitAreaUnit': self.area_unit,
                'hitRegions': self.regions, 'hitTissueShare': _round(self.tissue_share)}

    def attributes(self) -> dict:
        return {'quantiles': self.quantiles, 'randomPairBaseline': self.baseline,
                'suggestedCutoff': _round(self.cutoff), 'cutoffRule': self.rule,
                'cutoffPercentile': _round(self.cutoff_percentile), 'hitRegions': self.regions,
                'hitArea': _round(self.area), 'hitAreaUnit': self.area_unit,
                'hitTissueShare': _round(self.tissue_share)}

    def description(self) -> str:
        """One line for people; never "nan" (no cut-off when the scores cannot be split)."""
        if not (np.isfinite(self.cutoff) and np.isfinite(self.cutoff_percentile)):
            return ('No cut-off suggested: the tissue scores are all equal or too few to split '
                    '(%d region(s))' % self.regions)
        return ('Cut-off %.4g (%s; percentile %.1f of the tissue scores): %d '
                'region(s), %.4g %s, %.1f%% of the tissue' % (
                    self.cutoff, self.rule, self.cutoff_percentile, self.regions, self.area,
                    self.area_unit, 100 * self.tissue_share))

    def headline(self) -> str:
        """The hits in a few words (the hits layer's name): cut-off, regions, share."""
        if not np.isfinite(self.cutoff):
            return 'No hits (the scores are all equal)'
        return 'Hits ≥ %.2f · %d region%s · %.0f%% of tissue' % (
            self.cutoff, self.regions, '' if self.regions == 1 else 's',
            100 * self.tissue_share)


def _round(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)


def otsu(scores: np.ndarray, bins: int = 256,
         value_range: tuple[float, float] | None = None) -> float:
    """Otsu's threshold of ``scores`` (NaN when they are all equal or fewer than 2): the upper
    edge of the histogram bin that best splits them in two."""
    if scores.size < 2 or float(scores.min()) == float(scores.max()):
        return float('nan')
    counts, edges = np.histogram(scores, bins=bins, range=value_range)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts).astype(np.float64)
    mean = np.cumsum(counts * centres)
    total, grand = weight[-1], mean[-1]
    with np.errstate(divide='ignore', invalid='ignore'):
        between = (grand * weight / total - mean) ** 2 / (weight * (total - weight))
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    return float(edges[int(np.argmax(between)) + 1])


def percentiles(similarity: np.ndarray) -> np.ndarray:
    """Each valid cell's percentile (0..100) among the valid cells' scores; NaN elsewhere."""
    valid = np.isfinite(similarity)
    out = np.full(similarity.shape, np.nan, dtype=np.float32)
    values = similarity[valid]
    if values.size:
        out[valid] = 100.0 * np.searchsorted(np.sort(values), values, side='right') / values.size
    return out


def random_pair_baseline(embeddings: np.ndarray, valid: np.ndarray, seed: int = 0,
                         pairs: int = BASELINE_PAIRS) -> dict[str, float]:
    """Cosine of ``pairs`` random pairs of valid cells, gathered and normalised in small blocks
    (a few MiB, whatever the embedding width; a cached click's peak memory), read from the
    file rather than through its memory map (:func:`~..cache.integrity.gather_cells`)."""
    cells = np.flatnonzero(valid)
    if len(cells) < 2:
        return {}
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(cells), (2, pairs))
    keep = first != second
    first, second = cells[first[keep]], cells[second[keep]]
    cosine = np.empty(len(first), dtype=np.float32)
    for start in range(0, len(first), BASELINE_BLOCK):
        stop = start + BASELINE_BLOCK
        a, b = (_unit(gather_cells(embeddings, index))
                for index in (first[start:stop], second[start:stop]))
        cosine[start:stop] = (a * b).sum(axis=1)
    return {'mean': _round(cosine.mean()), 'p95': _round(np.quantile(cosine, 0.95)),
            'pairs': int(keep.sum())}


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def cutoff_rule(similarity: np.ndarray, key_cells: list[tuple[int, int]],
                baseline: dict[str, float] | None, floor: float = float('-inf')
                ) -> tuple[float, str]:
    """The cut-off (score units) and which term set it: the largest of Otsu outside the key
    cells, the random-pair baseline's 95th percentile (``baseline``; None where the score is
    no plain cosine), the median tissue score and ``floor`` (the user's --threshold, below
    which nothing is shown). NaN when the scores are all equal."""
    valid = np.isfinite(similarity)
    scores = similarity[valid].astype(np.float64)
    if scores.size < 2 or float(scores.min()) == float(scores.max()):
        return float('nan'), 'none: the scores are all equal'
    rest = valid.copy()
    for cell in key_cells:
        rest[cell] = False
    split = otsu(similarity[rest].astype(np.float64)) if rest.sum() >= 2 else float('nan')
    terms = [(float(np.median(scores)), 'median of the tissue scores (at most half the tissue)')]
    if np.isfinite(split):
        terms.append((split, 'Otsu outside the key cells'))
    if baseline and baseline.get('p95') is not None:
        terms.append((float(baseline['p95']), 'unrelated-tissue baseline (random pairs, p95)'))
    if np.isfinite(floor) and floor > float(scores.min()):
        terms.append((float(floor), 'the --threshold'))
    return max(terms)


def calibrate(similarity: np.ndarray, embeddings: np.ndarray, grid: TileGrid,
              mpp: float | None, seed: int = 0, key_cells: list[tuple[int, int]] = (),
              plain_cosine: bool = False, baseline_cells: np.ndarray | None = None,
              floor: float = float('-inf')) -> Calibration:
    """The cut-off, the hits and their numbers. ``plain_cosine``: the scores are cosines to
    image cells, comparable with the random-pair baseline (which then floors the cut-off);
    ``baseline_cells``: the cells the baseline draws from (default: those with a score)."""
    valid = np.isfinite(similarity)
    scores = similarity[valid].astype(np.float64)
    baseline = random_pair_baseline(
        embeddings, valid if baseline_cells is None else baseline_cells & valid, seed)
    cutoff, rule = cutoff_rule(similarity, list(key_cells), baseline if plain_cosine else None,
                               floor)
    hits = valid & (similarity >= cutoff) if np.isfinite(cutoff) else np.zeros_like(valid)
    regions = label(hits)[1]
    cell_px = grid.stride_base ** 2
    if mpp:
        area, unit = hits.sum() * cell_px * mpp ** 2 / 1e6, 'mm²'
    else:
        area, unit = float(hits.sum() * cell_px), 'px²'
    quantiles = ({'%g' % q: _round(v) for q, v in zip(QUANTILES, np.quantile(scores, QUANTILES),
                                                      strict=True)} if scores.size else {})
    share = float(hits.sum() / max(valid.sum(), 1))
    below = float(100.0 * (scores < cutoff).mean()) if np.isfinite(cutoff) else float('nan')
    return Calibration(cutoff, below, quantiles, baseline, hits, regions, float(area), unit,
                       share, rule)


def shown(result: SimilarityMap, calibration: Calibration) -> SimilarityMap:
    """``result`` as every picture shows it: display values on the hit cells only (no colour
    below the cut-off, nor on glass), and the cut-off converted to display units."""
    values = np.where(calibration.hits, result.values, 0.0).astype(np.float32)
    cutoff = display_value(result.similarity, result.threshold, result.scaling,
                           calibration.cutoff)
    if calibration.hits.any():  # the hit cells' values start at the cut-off (4-digit display)
        values = np.where(calibration.hits, np.maximum(values, cutoff), 0.0).astype(np.float32)
    return dataclasses.replace(result, values=values, cutoff=cutoff,
                               cutoff_score=float(calibration.cutoff))


def write_return_parameters(path: str, values: dict) -> None:
    """Slicer's return parameter file: ``name = value`` lines (slicer_cli_web shows them)."""
    from ..atomic import write_bytes

    write_bytes(path, ''.join('%s = %s\n' % (name, '' if value is None else value)
                              for name, value in values.items()))
