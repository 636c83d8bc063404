"""The batch engine: device-side preprocessing, out-of-memory back-off, what gets read."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import torch

from EmbeddingSimilarity.engine.embedding import (
    EmbeddingEngine,
    choose_layout,
    choose_precision,
    cpu_flags,
    cpu_has_native_bf16,
    is_convolutional,
    preprocess,
)
from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.loaders import Embedder
from EmbeddingSimilarity.progress import Progress
from EmbeddingSimilarity.query.cells import tissue_wanted
from EmbeddingSimilarity.slide import reader
from EmbeddingSimilarity.steps.embed import compute_embeddings
from EmbeddingSimilarity.steps.request import Request


class FlakyMemory(torch.nn.Module):
    """Raises CUDA's out-of-memory error for batches larger than ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
        self.sizes.append(len(x))
        return x.mean(dim=(2, 3))


def _tiles(n: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_out_of_memory_halves_the_batch_and_continues(caplog):
    spec = get_spec('Test').with_overrides(input_size=32)
    model = FlakyMemory(limit=5)
    engine = EmbeddingEngine(Embedder(model, spec, lambda m, x: m(x)), torch.device('cpu'),
                             batch_size=16)
    tiles = _tiles(23)
    with caplog.at_level(logging.WARNING):
        out = engine.embed(tiles)
    assert engine.batch_size == 4 and engine.back_offs == 2
    assert max(model.sizes) <= 5 and sum(model.sizes) == 23
    # the Test model's normalisation is mean 0, std 1 on [0, 1] pixels
    expected = tiles.astype(np.float32).mean(axis=(1, 2)) / 255.0
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    assert 'continuing with batches of 8' in caplog.text


def test_other_errors_are_not_swallowed():
    spec = get_spec('Test').with_overrides(input_size=32)

    def broken(model, x):
        raise RuntimeError('shape mismatch')
    engine = EmbeddingEngine(Embedder(torch.nn.Identity(), spec, broken), torch.device('cpu'))
    with pytest.raises(RuntimeError, match='shape mismatch'):
        engine.embed(_tiles(3))


def test_preprocessing_normalises_and_resizes_on_the_device():
    spec = get_spec('efficientnet-lite0')
    tiles = torch.from_numpy(_tiles(2, 112))
    x = preprocess(tiles, spec)
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32
    # mean = std = 0.5: pixel 0 -> -1, 255 -> +1
    assert x.min() >= -1.0001 and x.max() <= 1.0001
    flat = preprocess(torch.full((1, 224, 224, 3), 255, dtype=torch.uint8), spec)
    assert torch.allclose(flat, torch.ones_like(flat))


def test_cpu_never_runs_fp16():
    assert choose_precision('fp16', 'fp32', torch.device('cpu')) in ('bf16', 'fp32')


def test_auto_precision_is_bf16_only_on_a_cpu_with_native_bf16():
    cpu = torch.device('cpu')
    assert choose_precision('auto', 'fp32', cpu, native_bf16=True) == 'bf16'
    assert choose_precision('auto', 'fp16', cpu, native_bf16=False) == 'fp32'
    assert choose_precision('fp32', 'fp16', cpu, native_bf16=True) == 'fp32'
    assert choose_precision('auto', 'fp16', torch.device('cuda')) == 'fp16'
    assert choose_precision('auto', 'fp32', torch.device('cuda')) == 'fp32'


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx2\n')
    assert 'avx512_bf16' in cpu_flags(str(cpuinfo))
    assert cpu_has_native_bf16({'avx512f', 'avx512_bf16'})
    assert cpu_has_native_bf16({'amx_bf16', 'amx_tile'})
    assert not cpu_has_native_bf16({'avx512f', 'avx2'})


def test_layout_is_channels_last_for_convolutional_models_only():
    from EmbeddingSimilarity.models.loaders import build_embedder

    conv = build_embedder(get_spec('efficientnet-lite0'))
    assert is_convolutional(conv) and choose_layout('auto', conv) == 'channels_last'
    vit = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 16, 16), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 14 * 14, 512), torch.nn.Linear(512, 512))
    assert not is_convolutional(vit) and choose_layout('auto', vit) == 'contiguous'
    assert choose_layout('contiguous', conv) == 'contiguous'
    engine = EmbeddingEngine(conv, torch.device('cpu'), 'fp32', 4)
    assert engine.describe()['layout'] == 'channels_last'


def test_channels_last_gives_the_same_embeddings():
    from EmbeddingSimilarity.models.loaders import build_embedder

    spec = get_spec('efficientnet-lite0')
    tiles = _tiles(4)
    plain = EmbeddingEngine(build_embedder(spec), torch.device('cpu'), 'fp32', 4,
                            'contiguous').embed(tiles)
    last = EmbeddingEngine(build_embedder(spec), torch.device('cpu'), 'fp32', 4,
                           'channels_last').embed(tiles)
    assert np.allclose(plain, last, rtol=1e-3, atol=1e-4)


def test_unknown_layout_is_a_user_error():
    with pytest.raises(InputError, match='unknown layout'):
        choose_layout('nhwc', torch.nn.Identity())


def test_glass_cells_are_never_read_or_embedded(sample_slide, monkeypatch):
    read_cells: list[tuple[int, int]] = []
    original = reader.read_block

    def spy(source, grid, block):
        read_cells.extend(map(tuple, block.cells))
        return original(source, grid, block)
    monkeypatch.setattr(reader, 'read_block', spy)
    outcome = compute_embeddings(Request.of(image=sample_slide, model='Test',
                                         tissue_threshold=0.25))
    data = outcome.data
    wanted = tissue_wanted(data.tissue_fraction, 0.25)
    assert 0 < wanted.sum() < wanted.size
    assert sorted(read_cells) == sorted(zip(*np.nonzero(wanted), strict=True))
    assert (data.embedded == wanted).all()
    assert not data.embeddings[~wanted].any()


def test_results_do_not_depend_on_the_number_of_reader_threads(slide_40x):
    grids = [compute_embeddings(Request.of(image=slide_40x, model='Test', stride=112,
                                        batch_size=13, reader_threads=threads)).data
             for threads in (1, 3)]
    assert (grids[0].embedded == grids[1].embedded).all()
    assert np.array_equal(grids[0].embeddings, grids[1].embeddings)


def test_progress_tags_for_the_girder_job_panel():
    stream = io.StringIO()
    progress = Progress(tags=True, bar=False, stream=stream)
    progress.start('embed', total=200, comment='embedding 200 tiles')
    for _ in range(20):
        progress.advance(10)
    progress.end()
    lines = stream.getvalue().splitlines()
    assert lines[0] == ('<filter-start><filter-name>embed</filter-name><filter-comment>'
                        'embedding 200 tiles</filter-comment></filter-start>')
    fractions = [float(line[len('<filter-progress>'):-len('</filter-progress>')])
                 for line in lines if line.startswith('<filter-progress>')]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 20
    assert lines[-1].startswith('<filter-end><filter-name>embed</filter-name>')
    assert 'embed' in progress.timings
