"""The one cut-off's rule (query/calibration.py): Otsu outside the key cells, floored by the
unrelated-tissue baseline where the score is a plain cosine and by --threshold, capped at the
median (never more than half the tissue)."""

from __future__ import annotations

import numpy as np
import pytest

from EmbeddingSimilarity.query.calibration import cutoff_rule
from EmbeddingSimilarity.query.similarity import display_value, scale_values


def _scores(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scores = np.clip(rng.normal(0.5, 0.1, (20, 20)), -1, 1).astype(np.float32)
    scores[0, :5] = np.nan  # glass
    return scores


def test_the_key_cell_does_not_split_off_alone():
    scores = _scores()
    two = np.where(np.arange(400).reshape(20, 20) < 240, scores - 0.2, scores + 0.2)
    two[10, 10] = 1.0  # two kinds of tissue: Otsu outside the key cell splits them
    cutoff, rule = cutoff_rule(two, [(10, 10)], None)
    assert rule == 'Otsu outside the key cells'
    assert float(np.nanmean(two >= cutoff)) == pytest.approx(160 / 395, abs=0.03)


def test_baseline_floor_threshold_and_median_cap():
    scores = _scores(1)
    median = float(np.nanmedian(scores))
    cutoff, rule = cutoff_rule(scores, [], {'p95': 0.8, 'mean': 0.5})
    assert cutoff == pytest.approx(0.8) and 'baseline' in rule
    cutoff, rule = cutoff_rule(scores, [], {'p95': 0.1, 'mean': 0.0}, floor=0.75)
    assert cutoff == pytest.approx(0.75) and 'threshold' in rule
    flat = np.r_[np.full(90, 0.9), np.full(10, 0.1)].astype(np.float32)  # Otsu: 90% hits
    cutoff, rule = cutoff_rule(flat, [], None)
    assert cutoff >= np.median(flat) and 'median' in rule
    assert cutoff_rule(np.full((3, 3), 0.4, np.float32), [], None)[0] != cutoff_rule(
        np.full((3, 3), 0.4, np.float32), [], None)[0]  # NaN: all equal, nothing to split
    assert median <= cutoff_rule(scores, [], None)[0]


@pytest.mark.parametrize('scaling', ['quantile', 'linear'])
def test_display_value_keeps_the_order_of_the_cut_off(scaling):
    scores = _scores(2)
    values = scale_values(scores, 0.0, scaling)
    for cutoff in np.nanquantile(scores, [0.3, 0.5, 0.9]):
        shown = display_value(scores, 0.0, scaling, float(cutoff))
        valid = np.isfinite(scores)
        above = valid & (scores >= cutoff)
        assert (values[above] >= shown - 1e-6).all()
        assert (values[valid & ~above] < shown).all()
