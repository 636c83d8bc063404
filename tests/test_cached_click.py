"""A cached click never opens the slide: the cache carries the slide's metadata and a ``stat``
signature beside its fingerprint, so planning needs neither large_image nor the slide's pixels.

* the click through the real CLI imports no large_image at all (``-X importtime`` log);
* a copy of the slide (new mtime, same bytes) is confirmed by its fingerprint: still no reader;
* a slide whose bytes changed is not served from the cache (the one-line mismatch error);
* a cache written before these fields existed still serves, by opening the slide;
* the PNG overlay, which needs pixels, opens the slide on demand.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import run_cli
from test_cached_query import imported_modules

from EmbeddingSimilarity.cache import store

KEYPOINT = '1000,1500'


@pytest.fixture(scope='module')
def cached(tmp_path_factory, sample_slide) -> tuple[str, str]:
    """A copy of the sample slide and its cache made by the CLI with the Test model."""
    folder = tmp_path_factory.mktemp('click')
    slide = str(folder / 'slide.svs')
    shutil.copy(sample_slide, slide)
    cache = str(folder / 'slide.Test.npz')
    result = run_cli(slide, '--model', 'Test', '--output-embeddings', cache)
    assert result.returncode == 0, result.stderr
    return slide, cache


def click(slide: str, cache: str, tmp_path, *more: str):
    annotation = tmp_path / 'h.anot'
    result = run_cli(slide, '--model', 'Test', '--input-embeddings', cache, '--keypoints',
                     KEYPOINT, '--output-annotation', str(annotation), *more,
                     env={'PYTHONPROFILEIMPORTTIME': '1'})
    assert result.returncode == 0, result.stderr
    assert '"griddata"' in annotation.read_text()
    modules = imported_modules(result.stderr)
    assert 'EmbeddingSimilarity' in modules and 'numpy' in modules  # the log is complete
    return modules


def test_the_cache_records_what_a_plan_reads(cached):
    slide, cache = cached
    image = store.load(cache).provenance.image
    assert image.metadata['sizeX'] == image.width and image.metadata['sizeY'] == image.height
    assert image.metadata['mm_x'] > 0
    assert image.stat[0][:2] == ['slide.svs', os.path.getsize(slide)]


def test_a_cached_click_never_imports_large_image(cached, tmp_path):
    assert 'large_image' not in click(*cached, tmp_path)


def test_a_copied_slide_is_confirmed_by_its_fingerprint(cached, tmp_path):
    slide, cache = cached
    copy = tmp_path / 'slide.svs'
    shutil.copy(slide, copy)  # same name and bytes, another mtime: the stat differs
    assert 'large_image' not in click(str(copy), cache, tmp_path)


def test_a_changed_slide_is_not_served_from_the_cache(cached, tmp_path):
    slide, cache = cached
    changed = tmp_path / 'slide.svs'
    shutil.copy(slide, changed)
    with open(changed, 'ab') as handle:
        handle.write(b'\0' * 1024)  # still a readable TIFF, no longer the same bytes
    result = run_cli(str(changed), '--model', 'Test', '--input-embeddings', cache,
                     '--keypoints', KEYPOINT, '--output-annotation', str(tmp_path / 'h.anot'))
    assert result.returncode == 4, result.stderr
    assert 'does not match this run: image' in result.stderr
    assert 'Traceback' not in result.stderr


def test_an_older_cache_still_serves_by_opening_the_slide(cached, tmp_path):
    slide, cache = cached
    old = str(tmp_path / 'old.npz')
    with np.load(cache, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(str(arrays['meta']))
    del meta['image']['stat'], meta['image']['metadata']
    arrays['meta'] = np.array(json.dumps(meta))
    np.savez(old, **arrays)
    assert 'large_image' in click(slide, old, tmp_path)


def test_the_overlay_opens_the_slide_when_it_needs_pixels(cached, tmp_path):
    png = tmp_path / 'h.png'
    modules = click(*cached, tmp_path, '--output-overlay', str(png))
    assert 'large_image' in modules
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
