"""Scale-out on Dask: the same grid as in-process, and whole slides as tasks."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.steps.embed import compute_embeddings
from EmbeddingSimilarity.steps.request import Request


@pytest.mark.parametrize('model', ['Test', 'efficientnet-lite0'])
def test_local_cluster_gives_the_in_process_grid(sample_slide, model):
    common = dict(image=sample_slide, model=model, stride=112, batch_size=16)
    local = compute_embeddings(Request.of(**common)).data
    spread = compute_embeddings(Request.of(**common, scheduler='local', num_workers=2)).data
    assert (local.embedded == spread.embedded).all()
    assert spread.meta['model']['device'] == 'cpu'
    if model == 'Test':
        assert np.array_equal(local.embeddings, spread.embeddings)
        return
    # A CNN's float sums depend on the CPU thread count (2 here, 1 per worker): the grids
    # agree to float16 rounding, and every cell points the same way.
    a = local.embeddings[local.embedded].astype(np.float32)
    b = spread.embeddings[spread.embedded].astype(np.float32)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99999
    assert np.abs(a - b).max() <= 2e-3 * np.abs(a).max()


def test_folder_of_slides_is_spread_slide_by_slide(cli, sample_slide, slide_40x, tmp_path):
    folder = tmp_path / 'slides'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'a.svs')
    shutil.copy(slide_40x, folder / 'b.tiff')
    (folder / 'notes.txt').write_text('not a slide')
    out = tmp_path / 'out'
    result = cli(str(folder), '--model', 'Test', '--output-dir', str(out), '--scheduler', 'local',
                 '--num_workers', '2')
    # the text file fails alone, with one line; both slides are embedded
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'notes.txt' in errors[0]
    assert '1 of 3 slides failed' in result.stderr
    assert sorted(os.listdir(out)) == ['a.svs.Test.npz', 'b.tiff.Test.npz']
    single = compute_embeddings(Request.of(image=sample_slide, model='Test')).data
    assert np.array_equal(store.load(str(out / 'a.svs.Test.npz')).embeddings, single.embeddings)


def test_folder_mode_refuses_key_points(cli, sample_slide, tmp_path):
    folder = tmp_path / 'slides'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'a.svs')
    result = cli(str(folder), '--model', 'Test', '--keypoints', '10,10', '--output-dir',
                 str(tmp_path / 'out'))
    assert result.returncode == 2
    assert 'key points belong to one slide' in result.stderr


def test_unreachable_scheduler_is_a_clear_error(cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--model', 'Test', '--scheduler', 'tcp://127.0.0.1:9',
                 '--output-dir', str(tmp_path))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'Dask scheduler' in errors[0]
