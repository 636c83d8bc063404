"""Scale choice, grid geometry, and where each cell's pixels come from on the slide."""

from __future__ import annotations

import numpy as np
import pytest
import slides

from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.slide.reader import iter_batches, plan_blocks, read_block
from EmbeddingSimilarity.slide.source import open_slide, read_region
from EmbeddingSimilarity.slide.tiling import plan_grid, resolve_scale


@pytest.mark.parametrize('metadata, expected_factor, expected_source', [
    ({'mm_x': 0.0005, 'magnification': 20}, 1.0, 'mpp'),
    ({'mm_x': 0.00025, 'magnification': 40}, 2.0, 'mpp'),
    ({'mm_x': None, 'magnification': 40}, 2.0, 'magnification'),
    # 72-dpi files claim 352.8 µm/px and magnification 0.028: treated as unknown
    ({'mm_x': 0.3528, 'magnification': 0.028}, 1.0, 'assumed'),
    ({}, 1.0, 'assumed'),
])
def test_scale_comes_from_mpp_then_magnification_then_20x(metadata, expected_factor,
                                                          expected_source):
    scale = resolve_scale(metadata, model_mpp=0.5, model_magnification=20)
    assert scale.factor == pytest.approx(expected_factor)
    assert scale.source == expected_source


def test_user_scale_overrides_the_model():
    metadata = {'mm_x': 0.00025, 'magnification': 40}
    assert resolve_scale(metadata, 0.5, 20, mpp=1.0).factor == pytest.approx(4.0)
    assert resolve_scale(metadata, 0.5, 20, magnification=10).factor == pytest.approx(4.0)
    only_mag = {'magnification': 40}
    assert resolve_scale(only_mag, 0.5, 20, mpp=1.0).factor == pytest.approx(4.0)


def test_grid_covers_the_image_with_cells_at_the_stride():
    grid = plan_grid(2220, 2967, tile=224, stride=112, factor=2.0)
    assert grid.tile_base == 448 and grid.stride_base == 224
    # last cell starts before the right edge and reaches past it
    assert grid.cell_box(0, grid.cols - 1)[0] < 2220 <= grid.cell_box(0, grid.cols - 1)[2]
    assert grid.cell_box(0, grid.cols - 2)[2] < 2220
    assert grid.cell_center(2, 3) == pytest.approx((224 + 3 * 224, 224 + 2 * 224))
    assert grid.cell_of_point(*grid.cell_center(5, 4)) == (5, 4)
    assert grid.cell_of_point(-50, 1e9) == (grid.rows - 1, 0)


@pytest.mark.parametrize('tile, stride', [(0, 224), (5000, 224), (224, 0), (224, -3)])
def test_grid_rejects_bad_sizes(tile, stride):
    with pytest.raises(InputError):
        plan_grid(1000, 1000, tile, stride, 1.0)


def test_scales_close_to_a_pyramid_level_are_read_at_that_level():
    scale = resolve_scale({'mm_x': 0.0002527}, 0.5, 20)  # a 40x Aperio scan
    assert scale.factor == 2.0
    assert scale.requested_factor == pytest.approx(0.5 / 0.2527)
    assert scale.mpp == pytest.approx(0.5054)
    assert resolve_scale({'mm_x': 0.00045}, 0.5, 20).factor == pytest.approx(0.5 / 0.45)


@pytest.fixture(scope='module', params=[0.5, 0.25, 1.0, 0.3], ids=['20x', '40x', '10x', '0.3'])
def ramp_slide(request, tmp_path_factory):
    """A lossless ramp slide at the given µm/px, for a model at 0.5 µm/px."""
    mpp = request.param
    width, height = int(1800 * 0.5 / mpp), int(1300 * 0.5 / mpp)
    path = str(tmp_path_factory.mktemp('ramp') / ('ramp_%g.tiff' % mpp))
    slides.write_pyramid(path, slides.ramp(width, height), mpp, compression='zlib')
    return path, mpp


def test_cell_centres_map_to_the_right_base_pixels(ramp_slide):
    path, mpp = ramp_slide
    source = open_slide(path)
    meta = source.getMetadata()
    scale = resolve_scale(meta, 0.5, 20)
    assert scale.factor == pytest.approx(0.5 / mpp, rel=1e-3)
    grid = plan_grid(meta['sizeX'], meta['sizeY'], 224, 160, scale.factor)
    wanted = np.ones(grid.shape, dtype=bool)
    seen = 0
    for cells, tiles in iter_batches(source, grid, wanted, batch_size=7, workers=2):
        for (row, col), tile in zip(cells, tiles, strict=True):
            x, y = grid.cell_center(row, col)
            if x >= meta['sizeX'] or y >= meta['sizeY']:
                continue  # centre lies in the white padding past the edge
            red, green = tile[112, 112, :2].astype(float)
            # the ramp encodes position: red = 255 x / (width - 1), green = 255 y / (height - 1)
            assert red / 255 * (meta['sizeX'] - 1) == pytest.approx(x, abs=meta['sizeX'] / 200)
            assert green / 255 * (meta['sizeY'] - 1) == pytest.approx(y, abs=meta['sizeY'] / 200)
            seen += 1
    assert seen >= (grid.rows - 1) * (grid.cols - 1)


def test_block_reads_equal_direct_reads(ramp_slide):
    path, _ = ramp_slide
    source = open_slide(path)
    meta = source.getMetadata()
    grid = plan_grid(meta['sizeX'], meta['sizeY'], 224, 96, resolve_scale(meta, 0.5, 20).factor)
    wanted = np.zeros(grid.shape, dtype=bool)
    wanted[::2, 1::3] = True
    for block in plan_blocks(grid, wanted, block_px=700):
        tiles = read_block(source, grid, block)
        for (row, col), tile in zip(block.cells, tiles, strict=True):
            left, top, _, _ = grid.cell_box(row, col)
            direct = read_region(source, left, top, grid.tile, grid.tile, grid.factor)
            # resampling a region or a tile can round differently by a pixel at most
            difference = np.abs(tile.astype(int) - direct.astype(int))
            assert np.median(difference) <= 1 and difference.max() <= 6


def test_edges_past_the_image_are_white(ramp_slide):
    path, _ = ramp_slide
    source = open_slide(path)
    meta = source.getMetadata()
    grid = plan_grid(meta['sizeX'], meta['sizeY'], 224, 224, resolve_scale(meta, 0.5, 20).factor)
    wanted = np.zeros(grid.shape, dtype=bool)
    wanted[-1, -1] = True
    (_, tiles), = list(iter_batches(source, grid, wanted, batch_size=4))
    left, top, right, bottom = grid.cell_box(grid.rows - 1, grid.cols - 1)
    inside_w = int((meta['sizeX'] - left) / grid.factor)
    inside_h = int((meta['sizeY'] - top) / grid.factor)
    assert (tiles[0, :, inside_w + 1:] == 255).all()
    assert (tiles[0, inside_h + 1:, :] == 255).all()
    assert tiles[0, :inside_h - 1, :inside_w - 1, 2].mean() == pytest.approx(128, abs=2)


@pytest.mark.parametrize('pixels, expected', [
    (np.full((2, 2), 100, np.uint8), [100, 100, 100]),  # greyscale
    (np.dstack([np.full((2, 2), 100, np.uint8), np.full((2, 2), 255, np.uint8)]),
     [100, 100, 100]),  # grey + alpha
    (np.dstack([np.full((2, 2, 3), 50, np.uint8), np.zeros((2, 2), np.uint8)]),
     [255, 255, 255]),  # transparent RGBA is glass
    (np.dstack([np.full((2, 2, 3), 50, np.uint8), np.full((2, 2), 255, np.uint8)]),
     [50, 50, 50]),  # opaque RGBA (openslide)
    (np.full((2, 2, 3), 65535, np.uint16), [255, 255, 255]),  # 16-bit
])
def test_pixels_become_rgb_uint8(pixels, expected):
    from EmbeddingSimilarity.slide.source import to_rgb

    rgb = to_rgb(pixels)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == expected
