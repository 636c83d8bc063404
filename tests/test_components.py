"""The numpy region labelling gives exactly what scipy.ndimage gives (label and find_objects)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from EmbeddingSimilarity.query.components import boxes, label

MASKS = hnp.arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24)))


@settings(max_examples=300, deadline=None)
@given(MASKS)
def test_labels_and_boxes_equal_scipy_ndimage(mask):
    ours, count = label(mask)
    theirs, their_count = ndimage.label(mask)
    assert count == their_count
    assert np.array_equal(ours, theirs)
    assert boxes(ours, count) == ndimage.find_objects(theirs)


def test_a_spiral_is_one_region_and_a_checkerboard_many():
    spiral = np.zeros((41, 41), dtype=bool)
    top, left, bottom, right = 0, 0, 40, 40
    while top <= bottom and left <= right:  # a one-cell-wide path winding inwards
        spiral[top, left:right + 1] = True
        spiral[top:bottom + 1, right] = True
        spiral[bottom, left:right + 1] = True
        spiral[top + 2:bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
    assert label(spiral)[1] == ndimage.label(spiral)[1]
    board = (np.add.outer(np.arange(30), np.arange(30)) % 2).astype(bool)
    assert label(board)[1] == 450
    assert label(np.zeros((3, 4), bool))[1] == 0
