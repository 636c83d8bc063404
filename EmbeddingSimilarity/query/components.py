"""Connected regions of a cell mask (4-connected, numbered in raster order of their first cell,
as ``scipy.ndimage.label`` numbers them) and their bounding boxes, in numpy.

Every query counts its hit regions; importing ``scipy.ndimage`` for that costs about 0.5 s, half
of a cached click, so the labelling is done here by vectorised union-find instead.
"""

from __future__ import annotations

import numpy as np


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """``(labels, count)``: 0 outside ``mask``, 1..count for its 4-connected regions."""
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    labels = np.zeros(mask.shape, dtype=np.int32)
    cells = np.flatnonzero(mask)
    if not cells.size:
        return labels, 0
    across = np.flatnonzero((mask[:, :-1] & mask[:, 1:]).ravel())
    across = across + across // max(width - 1, 1)  # index in the (h, w-1) view -> in (h, w)
    down = np.flatnonzero((mask[:-1] & mask[1:]).ravel())
    first = np.concatenate([across, down])
    second = np.concatenate([across + 1, down + width])
    parent = np.arange(height * width)
    while True:
        a, b = parent[first], parent[second]
        apart = a != b
        if not apart.any():
            break
        # hook each root to the smallest root it touches, then flatten every path
        np.minimum.at(parent, np.maximum(a[apart], b[apart]), np.minimum(a[apart], b[apart]))
        while True:
            flat = parent[parent]
            if np.array_equal(flat, parent):
                break
            parent = flat
    roots, order = np.unique(parent[cells], return_inverse=True)
    labels.ravel()[cells] = order.astype(np.int32) + 1
    return labels, int(len(roots))


def boxes(labels: np.ndarray, count: int) -> list[tuple[slice, slice]]:
    """The bounding box of each region 1..count (``scipy.ndimage.find_objects``' slices)."""
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols] - 1
    top = np.full(count, labels.shape[0])
    left = np.full(count, labels.shape[1])
    bottom = np.zeros(count, dtype=int)
    right = np.zeros(count, dtype=int)
    np.minimum.at(top, which, rows)
    np.minimum.at(left, which, cols)
    np.maximum.at(bottom, which, rows + 1)
    np.maximum.at(right, which, cols + 1)
    return [(slice(int(t), int(b)), slice(int(lf), int(r)))
            for t, b, lf, r in zip(top, bottom, left, right, strict=True)]
