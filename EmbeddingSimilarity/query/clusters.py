"""A tissue map without a click: k-means on the unit embeddings of a slide's tissue cells.

Pure functions over an already computed grid (``store.EmbeddingGrid`` arrays and its
``tiling.TileGrid``), so any CLI that has a grid can draw the map.

* Clustering is on unit embeddings (the cosine geometry the similarity uses), seeded, and the
  clusters are renumbered largest first, so the same input gives the same map and numbering.
* ``k = 0`` chooses K: the K in 2..12 with the highest mean silhouette on a seeded sample of at
  most 4000 tissue cells (each K fitted on that sample), then the chosen K is fitted on all.
* Cells that are not tissue get cluster -1.
"""

from __future__ import annotations

import csv
import dataclasses
import io

import numpy as np

from ..atomic import write_bytes
from ..errors import InputError
from ..slide.tiling import TileGrid

MIN_CLUSTERS = 2
MAX_CLUSTERS = 50
AUTO_K = range(2, 13)
SILHOUETTE_SAMPLE = 4000
CHOICE_STARTS = 2
"""k-means starts per K while choosing K (the chosen K is then fitted with 4)."""
MINIBATCH_ABOVE = 20_000
"""Cells above which MiniBatchKMeans replaces KMeans (same result quality, bounded memory)."""
TABLE_COLUMNS = ('x', 'y', 'row', 'col', 'cluster', 'distance', 'tissue_fraction')


@dataclasses.dataclass
class ClusterMap:
    """Cluster of every cell (-1 = not tissue) and how the map was made."""

    labels: np.ndarray
    """``(rows, cols)`` int32; clusters are numbered 0.. by decreasing size."""
    distance: np.ndarray
    """``(rows, cols)`` float32 Euclidean distance of the unit embedding to its cluster's centre
    (0 = at the centre, 2 = opposite); NaN where the cell is not clustered."""
    centres: np.ndarray
    """``(k, D)`` float32 cluster centres in unit-embedding space."""
    seed: int
    chosen_by: str
    """'given' (``--clusters K``) or 'silhouette' (``--clusters 0``)."""
    silhouettes: dict[int, float] = dataclasses.field(default_factory=dict)
    """Mean silhouette per K tried (only when K was chosen)."""

    @property
    def k(self) -> int:
        return int(self.centres.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        """Cells per cluster."""
        return np.bincount(self.labels[self.labels >= 0], minlength=self.k)


@dataclasses.dataclass(frozen=True)
class ClusterStat:
    """One legend line."""

    cluster: int
    cells: int
    share: float
    """Share of the tissue cells (0-1)."""
    area_mm2: float | None
    """Area covered (cells x stride²), None when the slide's µm per pixel is unknown."""


def check_clusters(k: int, tissue_cells: int) -> None:
    """K is 0 (choose) or in 2..50 and no more than the tissue cells (InputError otherwise)."""
    if k == 0:
        if tissue_cells < MIN_CLUSTERS + 1:
            raise InputError('only %d tissue cell(s): too few to choose a number of clusters; '
                             'lower --tissue-threshold or the stride' % tissue_cells)
        return
    if k < MIN_CLUSTERS or k > MAX_CLUSTERS:
        raise InputError('--clusters %d is out of range; use %d to %d, or 0 to choose K by '
                         'silhouette' % (k, MIN_CLUSTERS, MAX_CLUSTERS))
    if tissue_cells < MIN_CLUSTERS:
        raise InputError('only %d tissue cell(s): too few to make %d clusters (at least %d are '
                         'needed); lower --tissue-threshold or the stride, or check that the '
                         'image shows tissue' % (tissue_cells, k, MIN_CLUSTERS))
    if k > tissue_cells:
        raise InputError('--clusters %d is more than the %d tissue cells; use at most %d (or 0 to '
                         'choose), or lower --tissue-threshold' % (k, tissue_cells, tissue_cells))


def unit_vectors(embeddings: np.ndarray, valid: np.ndarray,
                 norms: np.ndarray | None = None) -> np.ndarray:
    """``(N, D)`` float32 unit embeddings of the valid cells, row-major order."""
    vectors = np.asarray(embeddings[valid], dtype=np.float32)
    length = (norms[valid].astype(np.float32) if norms is not None
              else np.linalg.norm(vectors, axis=1))
    return vectors / np.maximum(length, 1e-12)[:, None]


def _fit(unit: np.ndarray, k: int, seed: int,
         n_init: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centres of a seeded k-means fit (best of ``n_init`` starts)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(unit) > MINIBATCH_ABOVE:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=min(n_init, 3),
                                batch_size=4096)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=n_init)
    labels = model.fit_predict(unit)
    return labels.astype(np.int32), model.cluster_centers_.astype(np.float32)


def choose_k(unit: np.ndarray, seed: int = 0) -> tuple[int, dict[int, float]]:
    """The K of :data:`AUTO_K` with the best mean silhouette on a seeded sample."""
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(seed)
    sample = unit
    if len(unit) > SILHOUETTE_SAMPLE:
        sample = unit[np.sort(rng.choice(len(unit), SILHOUETTE_SAMPLE, replace=False))]
    distinct = len(np.unique(sample.round(4), axis=0))
    scores: dict[int, float] = {}
    for k in AUTO_K:
        if k >= min(len(sample), distinct):
            break
        labels, _ = _fit(sample, k, seed, n_init=CHOICE_STARTS)
        if len(np.unique(labels)) < 2:
            continue
        scores[k] = float(silhouette_score(sample, labels))
    if not scores:
        raise InputError('the tissue cells are too few or too alike to choose a number of '
                         'clusters; pass --clusters K')
    best = max(scores, key=lambda k: (round(scores[k], 6), -k))
    return best, scores


def cluster_grid(embeddings: np.ndarray, valid: np.ndarray, k: int, seed: int = 0,
                 norms: np.ndarray | None = None) -> ClusterMap:
    """The k-means map of the valid cells (``k = 0`` chooses K by silhouette)."""
    count = int(valid.sum())
    check_clusters(k, count)
    unit = unit_vectors(embeddings, valid, norms)
    silhouettes: dict[int, float] = {}
    chosen_by = 'given'
    if k == 0:
        k, silhouettes = choose_k(unit, seed)
        chosen_by = 'silhouette'
    labels, centres = _fit(unit, k, seed)
    # renumber by decreasing size (ties: first cell in row-major order), so numbering is stable
    sizes = np.bincount(labels, minlength=k)
    first = np.array([np.argmax(labels == i) if sizes[i] else len(labels) for i in range(k)])
    order = sorted(range(k), key=lambda i: (-sizes[i], first[i]))
    remap = np.empty(k, dtype=np.int32)
    remap[order] = np.arange(k, dtype=np.int32)
    labels = remap[labels]
    centres = centres[order]
    grid_labels = np.full(valid.shape, -1, dtype=np.int32)
    grid_labels[valid] = labels
    distance = np.full(valid.shape, np.nan, dtype=np.float32)
    distance[valid] = np.linalg.norm(unit - centres[labels], axis=1)
    return ClusterMap(grid_labels, distance, centres, int(seed), chosen_by, silhouettes)


def prompt_labels(centres: np.ndarray, vectors: np.ndarray,
                  prompts: list[str]) -> list[tuple[str, float, float]]:
    """Each cluster's best prompt by the cosine of its centre with the prompts' unit text
    vectors: ``(prompt, cosine, margin over the second best)`` (margin = cosine for one)."""
    centres = centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    cosines = centres.astype(np.float64) @ np.asarray(vectors, dtype=np.float64).T
    out = []
    for row in cosines:
        order = np.argsort(row)[::-1]
        best = float(row[order[0]])
        margin = best - float(row[order[1]]) if len(order) > 1 else best
        out.append((prompts[int(order[0])], best, margin))
    return out


def cell_area_mm2(grid: TileGrid, slide_mpp: float | None) -> float | None:
    """Area one cell stands for (stride x stride), None without µm per pixel."""
    if not slide_mpp:
        return None
    return (grid.stride_base * slide_mpp / 1000.0) ** 2


def cluster_stats(clusters: ClusterMap, grid: TileGrid,
                  slide_mpp: float | None) -> list[ClusterStat]:
    sizes = clusters.sizes
    total = max(int(sizes.sum()), 1)
    area = cell_area_mm2(grid, slide_mpp)
    return [ClusterStat(i, int(n), n / total, n * area if area is not None else None)
            for i, n in enumerate(sizes)]


def table_text(grid: TileGrid, clusters: ClusterMap, tissue_fraction: np.ndarray) -> str:
    """CSV of every cell: centre ``x,y`` in base pixels, ``row,col``, cluster (-1 = not
    tissue), distance to the cluster centre (empty when not clustered), tissue fraction."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(TABLE_COLUMNS)
    ox, oy = grid.origin
    step = grid.stride_base
    for row in range(grid.rows):
        for col in range(grid.cols):
            distance = clusters.distance[row, col]
            writer.writerow(('%.2f' % (ox + col * step), '%.2f' % (oy + row * step), row, col,
                             int(clusters.labels[row, col]),
                             '' if not np.isfinite(distance) else '%.5f' % distance,
                             '%.4f' % float(tissue_fraction[row, col])))
    return buffer.getvalue()


def write_table(path: str, grid: TileGrid, clusters: ClusterMap,
                tissue_fraction: np.ndarray) -> None:
    write_bytes(path, table_text(grid, clusters, tissue_fraction))
