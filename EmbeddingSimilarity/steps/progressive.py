"""Coarse-to-fine embedding: the order of the cells, and preview heatmaps between levels.

A slide that is not cached is embedded in three levels: every 4th row and column first, then
every 2nd, then the rest (the query's cells join the first level). After a level,
:func:`preview_map` gives each cell still waiting the score of its nearest embedded neighbour,
so a heatmap can be drawn at once and sharpened later. The levels only reorder the cells: each
cell is embedded once, by the same engine, so the final grid equals a one-pass run (batches
hold other neighbours, which a per-tile model does not see).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from ..cache.store import EmbeddingGrid
from ..query.similarity import SimilarityMap

logger = logging.getLogger(__name__)

STEPS = (4, 2, 1)
"""Every ``step``-th row and column per level, coarse to fine."""
PREVIEW_NOTE = 'Preview: %d of %d cells embedded so far; the rest are filled from their nearest ' \
               'embedded neighbours. This map is replaced when the run finishes.'
_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def wanted(progressive: str, posting: bool) -> bool:
    """``--progressive``: true, false, or auto (= when posting to Girder)."""
    return progressive == 'true' or (progressive == 'auto' and posting)


def levels(todo: np.ndarray, steps: tuple[int, ...] = STEPS,
           first: np.ndarray | None = None) -> list[np.ndarray]:
    """Disjoint masks covering ``todo``, coarse to fine; empty levels are left out. The
    ``first`` cells (the query's) join the first level."""
    rows = np.arange(todo.shape[0])[:, None]
    cols = np.arange(todo.shape[1])[None, :]
    left = todo.copy()
    out = []
    for index, step in enumerate(steps):
        level = left & (rows % step == 0) & (cols % step == 0)
        if index == 0 and first is not None:
            level |= left & first
        if level.any():
            out.append(level)
            left &= ~level
    return out


def fill_from_neighbours(values: np.ndarray, have: np.ndarray,
                         need: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (a per-cell map) with the ``need`` cells that are not in ``have`` copied from
    the nearest cell in ``have`` (grown one ring of 8 neighbours at a time); the map and its
    filled mask."""
    out = values.copy()
    have = have.copy()
    missing = need & ~have
    rows, cols = have.shape
    while missing.any():
        sources = have.copy()
        grew = False
        for dr, dc in _NEIGHBOURS:
            # cells whose neighbour (r + dr, c + dc) is a source
            shifted = np.zeros_like(sources)
            (to_r, from_r), (to_c, from_c) = _span(rows, dr), _span(cols, dc)
            shifted[to_r, to_c] = sources[from_r, from_c]
            take = missing & shifted
            if not take.any():
                continue
            rr, cc = np.nonzero(take)
            out[rr, cc] = out[rr + dr, cc + dc]
            have[rr, cc] = True
            missing[rr, cc] = False
            grew = True
        if not grew:  # nothing embedded yet to grow from
            break
    return out, have


def _span(size: int, offset: int) -> tuple[slice, slice]:
    """Destination and source slices along one axis for a neighbour ``offset`` away."""
    return slice(max(0, -offset), size - max(0, offset)), slice(max(0, offset),
                                                                size + min(0, offset))


def preview_map(result: SimilarityMap, todo: np.ndarray) -> SimilarityMap:
    """``result`` (scored on the cells embedded so far) with every ``todo`` cell still waiting
    given its nearest scored neighbour's value. Scores, not embeddings, are filled: a preview
    costs no copy of the grid."""
    need = todo | result.valid
    similarity, _ = fill_from_neighbours(result.similarity, result.valid, need)
    values, _ = fill_from_neighbours(result.values, result.valid, need)
    return dataclasses.replace(result, similarity=similarity, values=values)


def preview_note(data: EmbeddingGrid, todo: np.ndarray) -> str:
    """The line that marks a preview annotation's description."""
    done = int((data.embedded & (todo | data.embedded)).sum())
    return PREVIEW_NOTE % (done, int((todo | data.embedded).sum()))


@dataclasses.dataclass
class PreviewOutcome:
    """What :func:`.publish.publish` reads from a run's outcome, for a preview."""

    data: EmbeddingGrid
    annotation: dict
    annotation_id: str | None = None
    files: list[str] = dataclasses.field(default_factory=list)
    source: Any = None


class Previewer:
    """``on_level`` for a heatmap run: scores the preview grid and publishes it (posted to
    Girder, then updated in place; or the ``.anot``), marked as a preview in its description.
    A preview that cannot be published is logged and the run goes on."""

    def __init__(self, request: Any, girder: Any, colormap: Any) -> None:
        self.request = request
        self.girder = girder
        self.colormap = colormap
        self.annotation_id = ''
        self.count = 0

    def __call__(self, data: EmbeddingGrid, todo: np.ndarray) -> None:
        from ..errors import GirderUnreachable, UserError
        from ..progress import NullProgress
        from ..query.cells import score
        from .heatmap import calibrate_map, heatmap_document
        from .publish import publish

        if self.girder is not None and self.girder.session is None:
            return  # no Girder (said once when it failed): the final publish reports it
        request = self.request.but(
            annotation_id=self.annotation_id or self.request.girder.annotation_id,
            output_overlay='')
        try:
            result = preview_map(score(request.query, data, request.tiling.tissue_threshold), todo)
            annotation = heatmap_document(request, data, result,
                                          calibrate_map(request.query, data, result),
                                          self.colormap, note=preview_note(data, todo))
            annotation['attributes'][next(iter(annotation['attributes']))]['preview'] = True
            outcome = PreviewOutcome(data=data, annotation=annotation)
            publish(request, outcome, self.girder, NullProgress(), draw=lambda thumb: thumb)
        except UserError as exc:
            logger.warning('preview heatmap not published: %s', exc)
            if isinstance(exc, GirderUnreachable) and self.girder is not None:
                self.girder.lost(exc)  # no later preview waits for a dead server again
            return
        self.count += 1
        self.annotation_id = outcome.annotation_id or self.annotation_id
        logger.info('published preview heatmap %d (%s)', self.count,
                    preview_note(data, todo).split(';')[0].lower())
