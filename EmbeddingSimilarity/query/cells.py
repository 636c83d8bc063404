"""From what the user pointed at to a score per cell: key points become cells, cells become a
unit query, and the query scores the grid (:mod:`.similarity` does the arithmetic).
"""

from __future__ import annotations

import numpy as np

from ..cache.store import EmbeddingGrid
from ..errors import InputError, for_admin
from ..slide.tiling import TileGrid
from .options import QueryOptions
from .scorer import fit_scorer
from .shapes import Shape, format_shapes, point, shape_text
from .similarity import SimilarityMap, box_mean, check_options, scale_values


def tissue_wanted(fraction: np.ndarray, threshold: float) -> np.ndarray:
    """Cells to embed: those with at least ``threshold`` tissue (every cell when it is 0)."""
    if threshold <= 0:
        return np.ones(fraction.shape, dtype=bool)
    return fraction >= threshold


def shape_cells(grid: TileGrid, shape: Shape) -> list[tuple[int, int]]:
    """The cells a key shape stands for: a point's cell; the cells whose centre lies inside a
    region, or the one cell under its centre when it covers no cell centre."""
    if shape.is_point:
        return [grid.cell_of_point(*shape.vertices[0])]
    left, top, right, bottom = shape.bounds()
    ox, oy = grid.origin
    step = grid.stride_base
    cols = np.arange(max(0, int(np.floor((left - ox) / step))),
                     min(grid.cols, int(np.ceil((right - ox) / step)) + 1))
    rows = np.arange(max(0, int(np.floor((top - oy) / step))),
                     min(grid.rows, int(np.ceil((bottom - oy) / step)) + 1))
    rr, cc = np.meshgrid(rows, cols, indexing='ij')
    inside = shape.contains(ox + cc * step, oy + rr * step)
    cells = [(int(r), int(c)) for r, c in zip(rr[inside], cc[inside], strict=True)]
    return cells or [grid.cell_of_point(*shape.centre())]


def key_shapes(query: QueryOptions) -> tuple[list[Shape], list[Shape]]:
    """The positive and negative key shapes: points first, then regions."""
    return ([point(x, y) for x, y in query.keypoints] + list(query.key_regions),
            [point(x, y) for x, y in query.negative_keypoints]
            + list(query.negative_regions))


def check_on_tissue(query: QueryOptions, grid: TileGrid, fraction: np.ndarray,
                    tissue_threshold: float) -> None:
    """A question needs tissue: refuse a slide without any, and a positive key point on glass
    (its cell would be the query, and every glass cell would match it). Negative points may lie
    on glass ("not that")."""
    if tissue_threshold <= 0 or not (query.keypoints or query.key_regions):
        return
    wanted = tissue_wanted(fraction, tissue_threshold)
    if not wanted.any():
        raise InputError(for_admin(
            'found no tissue on this slide: check that it is the right slide, or open "Tiling '
            'and scale" and lower Tissue Threshold (0 uses every tile, glass included)',
            'none of its %d cells holds %g or more tissue (the brightest is %.0f%% tissue); '
            '--tissue-threshold 0 scores every cell'
            % (wanted.size, tissue_threshold, 100 * float(np.max(fraction)))))
    for x, y in query.keypoints:
        row, col = grid.cell_of_point(x, y)
        if not wanted[row, col]:
            raise InputError(for_admin(
                'key point (%g, %g) is on glass: click on the tissue itself, or open "Tiling '
                'and scale" and lower Tissue Threshold' % (x, y),
                'its cell (%d, %d) holds %.0f%% tissue, below --tissue-threshold %g'
                % (row, col, 100 * float(fraction[row, col]), tissue_threshold)))


def query_cells(query: QueryOptions, grid: TileGrid) -> np.ndarray:
    """Every cell a key shape stands for (embedded first by a coarse-to-fine run, so a preview
    scores with the true query)."""
    mask = np.zeros(grid.shape, dtype=bool)
    positives, negatives = key_shapes(query)
    for shape in positives + negatives:
        for cell in shape_cells(grid, shape):
            mask[cell] = True
    return mask


def _single_cells(query: QueryOptions, grid: TileGrid) -> list[tuple[int, int]]:
    """Cells that get a value even on glass: those under a point or a region too small to
    cover a cell centre (a deliberate click)."""
    positives, negatives = key_shapes(query)
    cells = []
    for shape in positives + negatives:
        found = shape_cells(grid, shape)
        if len(found) == 1 and (shape.is_point or not _covers_a_centre(grid, shape)):
            cells.append(found[0])
    return cells


def _covers_a_centre(grid: TileGrid, shape: Shape) -> bool:
    ox, oy = grid.origin
    row, col = shape_cells(grid, shape)[0]
    return bool(shape.contains(np.array([ox + col * grid.stride_base]),
                               np.array([oy + row * grid.stride_base]))[0])


def cells_to_embed(query: QueryOptions, grid: TileGrid, fraction: np.ndarray,
                   tissue_threshold: float) -> np.ndarray:
    """Tissue cells by ``tissue_threshold``, plus the cells under the key points."""
    wanted = tissue_wanted(fraction, tissue_threshold)
    for cell in _single_cells(query, grid):
        wanted[cell] = True
    return wanted


def valid_cells(data: EmbeddingGrid, query: QueryOptions, tissue_threshold: float) -> np.ndarray:
    """Cells that get a value: embedded and tissue by this run's threshold, or a key point."""
    valid = data.embedded & tissue_wanted(data.tissue_fraction, tissue_threshold)
    for cell in _single_cells(query, data.grid):
        valid[cell] = data.embedded[cell]
    return valid


def query_groups(shapes: list[Shape], grid: TileGrid, valid: np.ndarray,
                 name: str) -> list[list[tuple[int, int]]]:
    """Each shape's valid cells (one group per shape, so each shape weighs the same)."""
    groups = []
    for shape in shapes:
        cells = [cell for cell in shape_cells(grid, shape) if valid[cell]]
        if not cells:
            if shape.is_point:
                x, y = shape.vertices[0]
                row, col = grid.cell_of_point(x, y)
                raise InputError('%s (%g, %g) falls on cell (%d, %d), which has no embedding'
                                 % (name, x, y, row, col))
            raise InputError('%s %s %s covers only glass (no tissue cell); draw it on the '
                             'tissue' % (name.replace('point', 'region'), shape.kind,
                                         shape_text(shape)))
        groups.append(cells)
    return groups


def text_vectors(query: QueryOptions, data: EmbeddingGrid) -> tuple[np.ndarray, np.ndarray]:
    """The ensembled unit vectors of the positive and negative prompts, from the text tower of
    the model that made the grid (only the text tower loads: the grid is not re-embedded)."""
    from ..models.text import split_prompts

    positives = split_prompts(query.text_queries)
    negatives = split_prompts(query.negative_text_queries, '--negative-text-queries')
    return grid_prompt_vectors(data, positives), grid_prompt_vectors(data, negatives)


def grid_prompt_vectors(data: EmbeddingGrid, prompts: list[str]) -> np.ndarray:
    """``(len(prompts), D)`` ensembled unit text vectors from the text tower of the model that
    made the grid (checked to share the grid's width)."""
    width = data.embeddings.shape[-1]
    if not prompts:
        return np.zeros((0, width), dtype=np.float32)
    from ..models.registry import get_spec
    from ..models.text import prompt_vectors

    record = data.provenance.model
    spec = get_spec(record.name, record.pooling or None)
    if record.repo_id and spec.repo_id != record.repo_id:
        spec = spec.with_overrides(repo_id=record.repo_id)
    vectors = prompt_vectors(spec, prompts)
    if vectors.shape[-1] != width:
        raise InputError('the text tower of %s gives %d-d vectors but the grid holds %d-d image '
                         'embeddings; embed the slide with that model\'s projection pooling'
                         % (spec.name, vectors.shape[-1], width))
    return vectors


def score(query: QueryOptions, data: EmbeddingGrid, tissue_threshold: float) -> SimilarityMap:
    """The similarity map of the grid to the query's key shapes, by its scorer."""
    check_options(query.threshold, query.aggregation, query.scaling)
    valid = valid_cells(data, query, tissue_threshold)
    positives, negatives = key_shapes(query)
    pos = query_groups(positives, data.grid, valid, 'key point')
    neg = query_groups(negatives, data.grid, valid, 'negative key point')
    texts, negative_texts = text_vectors(query, data)
    scorer = fit_scorer(query.scorer, data.embeddings, pos, neg, valid, query.seed, texts,
                        negative_texts)
    similarity = box_mean(scorer.score(data.embeddings, valid, data.norms), query.aggregation)
    values = scale_values(similarity, query.threshold, query.scaling)
    return SimilarityMap(similarity, values, [c for g in pos for c in g],
                         [c for g in neg for c in g], float(query.threshold), query.scaling,
                         int(query.aggregation))


def query_attributes(query: QueryOptions, data: EmbeddingGrid, version: str) -> dict:
    """What the annotation records about the query (read back by the next run and by people);
    the prompts only when the query has words, so a click's annotation is what it always was."""
    grid, provenance = data.grid, data.provenance
    scale = provenance.scale
    words = {'textQueries': query.text_queries,
             'negativeTextQueries': query.negative_text_queries} \
        if query.text_queries or query.negative_text_queries else {}
    return {'model': provenance.model.name, 'version': version,
            'tileSize': grid.tile, 'stride': grid.stride, 'factor': grid.factor,
            'mpp': scale.mpp if scale else None,
            'magnification': scale.magnification if scale else None,
            'keypoints': [list(p) for p in query.keypoints],
            'negativeKeypoints': [list(p) for p in query.negative_keypoints],
            'keyRegions': [format_shapes([shape]) for shape in query.key_regions],
            'negativeRegions': [format_shapes([shape]) for shape in query.negative_regions],
            'scorer': query.scorer, **words,
            'imageFingerprint': provenance.image.fingerprint}


def query_description(query: QueryOptions, result: SimilarityMap) -> str:
    """One sentence on what was asked and how it was scored (the annotation's description)."""
    positives, negatives = key_shapes(query)
    rule = ('logistic regression probability (positive against %s)' % (
        'negative cells' if negatives else 'random tissue cells')
        if query.scorer == 'linear' else 'cosine similarity to the prototype')
    words = ''.join(' and %s %r' % (label, text.strip()) for label, text in (
        ('the prompt(s)', query.text_queries), ('negative prompt(s)', query.negative_text_queries))
        if text.strip())
    return ('Score of %d tissue cells to %d key shape(s)%s%s: %s; %s scaling from %g.' % (
        int(result.valid.sum()), len(positives),
        ' and %d negative shape(s)' % len(negatives) if negatives else '', words, rule,
        result.scaling, result.threshold))
