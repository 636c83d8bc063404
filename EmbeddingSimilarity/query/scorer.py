"""Cells and weights in, a scorer out: how much each cell looks like the positive key shapes
and unlike the negative ones.

Both scorers are one direction ``w`` in embedding space, so scoring a whole grid is one
chunked matrix-vector pass (:func:`~.similarity.cosine_map`) plus an affine map:

- ``prototype``: ``w`` = mean positive unit embedding minus mean negative one; the score is the
  cosine to ``w`` (the reference tool's score, with negatives).
- ``linear``: an L2-regularised logistic regression on the unit embeddings of the query cells,
  positive against negative (or, without negatives, against random tissue cells of the slide);
  the score is the fitted probability ``sigmoid(|w| cos + b)`` of a cell's unit embedding.

Each key shape weighs the same: a shape's cells share its weight, so one large polygon does not
drown a clicked point.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import InputError
from .similarity import check_not_zero, cosine_map, unit_query

Cells = list[tuple[int, int]]
BACKGROUND_CELLS = 512
"""Random tissue cells that stand for "the rest" when ``linear`` has no negatives."""
REGULARISATION = 10.0
"""Inverse L2 strength (scikit-learn's C) of the ``linear`` scorer."""


@dataclasses.dataclass
class Scorer:
    """A unit direction and the affine map from cosine to score."""

    kind: str
    direction: np.ndarray
    gain: float = 1.0
    bias: float = 0.0

    def score(self, embeddings: np.ndarray, valid: np.ndarray,
              norms: np.ndarray | None = None) -> np.ndarray:
        """The score of every valid cell (NaN elsewhere), from one pass over the grid."""
        cosine = cosine_map(embeddings, valid, self.direction, norms)
        if self.kind == 'prototype':
            return cosine
        with np.errstate(over='ignore'):
            return (1.0 / (1.0 + np.exp(-(self.gain * cosine + self.bias)))).astype(np.float32)


def unit_rows(embeddings: np.ndarray, cells: Cells) -> np.ndarray:
    vectors = np.stack([np.asarray(embeddings[r, c], dtype=np.float32) for r, c in cells])
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def group_mean(embeddings: np.ndarray, groups: list[Cells],
               vectors: np.ndarray | None = None) -> np.ndarray:
    """Mean over groups of each group's mean unit embedding, and over the unit ``vectors``
    (text prompts: one group each)."""
    means = [unit_rows(embeddings, cells).mean(axis=0) for cells in groups]
    means += [np.asarray(v, dtype=np.float32) for v in (vectors if vectors is not None else [])]
    return np.mean(means, axis=0)


def prototype(embeddings: np.ndarray, positives: list[Cells],
              negatives: list[Cells] | None = None, texts: np.ndarray | None = None,
              negative_texts: np.ndarray | None = None) -> Scorer:
    query = group_mean(embeddings, positives, texts)
    check_not_zero(query, embeddings, [cell for cells in positives for cell in cells])
    if negatives or (negative_texts is not None and len(negative_texts)):
        query = query - group_mean(embeddings, negatives or [], negative_texts)
    return Scorer('prototype', unit_query(query).astype(np.float32))


def _samples(embeddings: np.ndarray, groups: list[Cells]) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows of every group's cells, and weights giving each group the same total."""
    rows = np.concatenate([unit_rows(embeddings, cells) for cells in groups])
    weights = np.concatenate([np.full(len(cells), 1.0 / len(cells)) for cells in groups])
    return rows, weights * len(rows) / weights.sum()


def background(valid: np.ndarray, exclude: list[Cells], seed: int,
               count: int = BACKGROUND_CELLS) -> list[Cells]:
    """Random tissue cells (not among ``exclude``), one group each."""
    taken = valid.copy()
    for cells in exclude:
        for cell in cells:
            taken[cell] = False
    rows, cols = np.nonzero(taken)
    if not len(rows):
        raise InputError('--scorer linear without negative key shapes needs tissue cells outside '
                         'the positive ones to compare against; add negative key points')
    pick = np.random.default_rng(seed).choice(len(rows), min(count, len(rows)), replace=False)
    return [[(int(rows[i]), int(cols[i]))] for i in np.sort(pick)]


def linear(embeddings: np.ndarray, positives: list[Cells], negatives: list[Cells],
           valid: np.ndarray, seed: int = 0) -> Scorer:
    """Logistic regression, positive cells against negative (or random tissue) cells."""
    from sklearn.linear_model import LogisticRegression

    pos, pos_weight = _samples(embeddings, positives)
    if len(np.unique(pos.round(6), axis=0)) < 2:
        raise InputError('--scorer linear needs at least 2 different positive cells (a region '
                         'or several points on different tissue); these are all the same cell. '
                         'Draw a region, or use --scorer prototype')
    if not negatives:
        negatives = background(valid, positives, seed)
    neg, neg_weight = _samples(embeddings, negatives)
    features = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    weights = np.concatenate([pos_weight / len(pos), neg_weight / len(neg)]) * len(features) / 2
    model = LogisticRegression(C=REGULARISATION, max_iter=1000)
    model.fit(features, labels, sample_weight=weights)
    w = model.coef_[0].astype(np.float64)
    gain = float(np.linalg.norm(w))
    if gain < 1e-12:
        raise InputError('--scorer linear found no direction separating the positive from the '
                         'negative cells; choose more distinct key shapes')
    return Scorer('linear', (w / gain).astype(np.float32), gain, float(model.intercept_[0]))


def fit_scorer(kind: str, embeddings: np.ndarray, positives: list[Cells],
               negatives: list[Cells], valid: np.ndarray, seed: int = 0,
               texts: np.ndarray | None = None,
               negative_texts: np.ndarray | None = None) -> Scorer:
    """The scorer of ``kind``; text prompts' unit vectors count as key shapes (prototype)."""
    has_text = any(v is not None and len(v) for v in (texts, negative_texts))
    if kind == 'linear':
        if has_text:
            raise InputError('--scorer linear learns from cells, not words; use --scorer '
                             'prototype with text queries')
        return linear(embeddings, positives, negatives, valid, seed)
    if not positives and (texts is None or not len(texts)):
        raise InputError('negative key shapes or negative text queries need a positive query: '
                         'add key points or --text-queries')
    return prototype(embeddings, positives, negatives, texts, negative_texts)
