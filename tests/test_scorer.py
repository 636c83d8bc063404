"""The scorers, the calibration and the hit polygons: synthetic checks of each rule, and on the
real sample slide, ``--scorer linear`` against ``prototype`` measured as AUC."""

from __future__ import annotations

import numpy as np
import pytest
import slides
from conftest import run_cli

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query.calibration import calibrate, otsu, percentiles
from EmbeddingSimilarity.query.hits import hit_elements, hit_outlines
from EmbeddingSimilarity.query.scorer import _samples, background, linear, prototype
from EmbeddingSimilarity.query.similarity import query_vector
from EmbeddingSimilarity.slide.tiling import plan_grid


def _two_kinds(rows: int = 12, cols: int = 12, dim: int = 16, seed: int = 0):
    """Left half one tissue kind, right half another, plus noise."""
    rng = np.random.default_rng(seed)
    kinds = rng.standard_normal((2, dim)).astype(np.float32)
    embeddings = kinds[(np.arange(cols) >= cols // 2).astype(int)][None].repeat(rows, 0)
    return (embeddings + 0.3 * rng.standard_normal((rows, cols, dim))).astype(np.float32)


def test_prototype_of_points_is_the_reference_query():
    embeddings = _two_kinds()
    cells, negatives = [(1, 1), (5, 2)], [(3, 9)]
    scorer = prototype(embeddings, [[c] for c in cells], [[c] for c in negatives])
    np.testing.assert_allclose(scorer.direction, query_vector(embeddings, cells, negatives),
                               atol=1e-6)


def test_each_shape_weighs_the_same_in_the_linear_fit():
    embeddings = _two_kinds()
    _, weights = _samples(embeddings, [[(0, 0)], [(r, 1) for r in range(9)]])
    assert weights[0] == pytest.approx(weights[1:].sum())


def test_linear_separates_and_scores_probabilities():
    embeddings = _two_kinds()
    valid = np.ones(embeddings.shape[:2], dtype=bool)
    fitted = linear(embeddings, [[(2, 1), (4, 2)]], [[(6, 9)]], valid)
    scores = fitted.score(embeddings, valid)
    assert np.all((scores > 0) & (scores < 1))
    assert scores[:, :6].min() > scores[:, 6:].max()


def test_linear_without_negatives_draws_background_tissue():
    valid = np.zeros((12, 12), dtype=bool)
    valid[2:10, 2:10] = True
    drawn = background(valid, [[(2, 2)]], seed=3, count=20)
    cells = [group[0] for group in drawn]
    assert len(set(cells)) == 20 and (2, 2) not in cells and all(valid[c] for c in cells)
    embeddings = _two_kinds()
    scores = linear(embeddings, [[(2, 1), (4, 2)]], [], valid).score(embeddings, valid)
    assert np.nanmean(scores[:, :6]) > np.nanmean(scores[:, 6:])


def test_linear_refuses_identical_positives():
    embeddings = _two_kinds()
    with pytest.raises(InputError, match='at least 2 different positive cells'):
        linear(embeddings, [[(1, 1)], [(1, 1)]], [[(5, 9)]], np.ones((12, 12), bool))


def test_otsu_cutoff_splits_two_modes_and_hits_are_counted():
    grid = plan_grid(2400, 2400, 200, 200, 1.0)  # 12 x 12 cells of 200 px
    similarity = np.full((12, 12), 0.1, dtype=np.float32)
    similarity[2:5, 2:5] = 0.8
    similarity[3, 3] = 0.1  # a hole
    similarity[8:10, 8:11] = 0.75
    similarity[0, :] = np.nan  # glass
    cutoff = otsu(similarity[np.isfinite(similarity)])
    assert 0.1 < cutoff <= 0.75
    calibration = calibrate(similarity, _two_kinds(), grid, mpp=0.5)
    assert calibration.regions == 2
    assert calibration.hits.sum() == 8 + 6
    assert calibration.area == pytest.approx(14 * 200 ** 2 * 0.25 / 1e6)
    assert calibration.tissue_share == pytest.approx(14 / 132)
    ranks = percentiles(similarity)
    assert np.nanmax(ranks) == 100 and np.isnan(ranks[0]).all()
    outlines = hit_outlines(grid, calibration.hits)
    assert sorted(len(holes) for _, holes in outlines) == [0, 1]
    elements = hit_elements(grid, calibration.hits, 0.5, similarity)
    assert [e['type'] for e in elements] == ['polyline', 'polyline']
    assert [e['user']['cells'] for e in elements] == [8, 6]  # largest first
    assert [e['user']['meanScore'] for e in elements] == pytest.approx([0.8, 0.75])
    assert elements[0]['user']['meanPercentile'] == 100.0
    assert len(elements[0]['holes']) == 1
    xs = [p[0] for e in elements for p in e['points']]
    assert min(xs) >= 0 and max(xs) <= 2400


@pytest.fixture(scope='module')
def lite0_grid(tmp_path_factory, sample_slide) -> str:
    path = str(tmp_path_factory.mktemp('lite0') / 'lite0.npz')
    result = run_cli(sample_slide, '--model', 'efficientnet-lite0', '--stride', '112',
                     '--output-embeddings', path)
    assert result.returncode == 0, result.stderr
    return path


def colour_labels(grid) -> np.ndarray:
    """Labels of the sample slide's cells by a colour rule, fixed and reproducible: a cell's
    optical density (OD = -ln(RGB / 255)) is averaged over its tissue pixels (OD sum > 0.3),
    cells less than half tissue are unlabelled; the ratio OD(red) / OD(green) is high where
    haematoxylin dominates (the cell-dense, basophilic epidermis and adnexa) and low where eosin
    does (collagen of the dermis). The top third of the ratios is class 1, the bottom third
    class 0, the middle third unlabelled (-1)."""
    od = -np.log(np.maximum(slides.read_sample().astype(np.float32), 1) / 255.0)
    ratio = np.full(grid.shape, np.nan)
    for row in range(grid.rows):
        for col in range(grid.cols):
            left, top, right, bottom = (int(v) for v in grid.cell_box(row, col))
            box = od[top:bottom, left:right].reshape(-1, 3)
            tissue = box.sum(axis=1) > 0.3
            if box.size and tissue.mean() > 0.5:
                mean = box[tissue].mean(axis=0)
                ratio[row, col] = mean[0] / mean[1]
    low, high = np.nanquantile(ratio, [1 / 3, 2 / 3])
    labels = np.full(grid.shape, -1)
    labels[ratio >= high] = 1
    labels[ratio <= low] = 0
    return labels


def test_linear_beats_prototype_on_the_real_slide(lite0_grid):
    """Ten draws (seeds 0..9) of 8 positive and 3 negative cells from the labelled classes;
    AUC of each scorer over the other labelled cells that were embedded."""
    from sklearn.metrics import roc_auc_score

    data = store.load(lite0_grid)
    labels = colour_labels(data.grid)
    labels[~data.embedded] = -1
    positives, negatives = np.argwhere(labels == 1), np.argwhere(labels == 0)
    assert len(positives) >= 30 and len(negatives) >= 30
    aucs = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        pos = [[tuple(map(int, c))] for c in rng.choice(positives, 8, replace=False)]
        neg = [[tuple(map(int, c))] for c in rng.choice(negatives, 3, replace=False)]
        test = labels >= 0
        for (cell,) in pos + neg:
            test[cell] = False
        row = []
        for scorer in (prototype(data.embeddings, pos, neg),
                       linear(data.embeddings, pos, neg, data.embedded)):
            scores = scorer.score(data.embeddings, data.embedded)
            row.append(roc_auc_score(labels[test], scores[test]))
        aucs.append(row)
    aucs = np.array(aucs)
    assert aucs[:, 1].mean() > aucs[:, 0].mean() + 0.01, aucs
    assert (aucs[:, 1] > aucs[:, 0]).sum() >= 7, aucs


def test_a_lone_hit_cell_is_an_octagon_along_its_borders():
    grid = plan_grid(1000, 1000, 100, 100, 1.0)
    hits = np.zeros(grid.shape, dtype=bool)
    hits[4, 6] = True
    (outer, holes), = hit_outlines(grid, hits)
    assert holes == [] and len(outer) == 8
    left, top, right, bottom = grid.cell_box(4, 6)
    assert outer[:, 0].min() == pytest.approx(left) and outer[:, 0].max() == pytest.approx(right)
    assert outer[:, 1].min() == pytest.approx(top) and outer[:, 1].max() == pytest.approx(bottom)
    element, = hit_elements(grid, hits, None)
    assert element['user']['areaPixels'] == pytest.approx(100 * 100 * 7 / 8)
