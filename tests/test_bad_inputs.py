"""Every bad input gets one clear line, a non-zero exit code, and loses nothing.

Each row here is a row of docs/errors.rst (same name in the first column).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import slides
from conftest import REPO

from EmbeddingSimilarity.cache import store

KEYPOINT = '1000,1500'


@pytest.fixture(scope='module')
def cases(tmp_path_factory, sample_slide):
    """Bad files to feed the CLI, made once."""
    folder = tmp_path_factory.mktemp('bad')
    text = folder / 'notes.svs'
    text.write_text('this is not a slide\n')
    good = folder / 'good.npz'
    result = subprocess.run([sys.executable, '-m', 'EmbeddingSimilarity', sample_slide,
                             '--model', 'Test', '--output-embeddings', str(good)],
                            cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    raw = good.read_bytes()
    (folder / 'truncated.npz').write_bytes(raw[:len(raw) // 2])
    (folder / 'corrupt.npz').write_bytes(os.urandom(4096))
    data = store.load(str(good))
    with open(folder / 'pickled.npz', 'wb') as handle:
        np.savez(handle, embeddings=data.embeddings, embedded=data.embedded,
                 tissue_fraction=data.tissue_fraction,
                 meta=np.array([{'format': store.FORMAT_NAME}], dtype=object))
    future = store.EmbeddingGrid(data.embeddings, data.embedded, data.tissue_fraction,
                                 dict(data.meta))
    store.save(str(folder / 'future.npz'), future)
    with np.load(folder / 'future.npz') as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays['meta'] = np.array(str(arrays['meta']).replace('"format_version": 1',
                                                         '"format_version": 99'))
    with open(folder / 'future.npz', 'wb') as handle:
        np.savez(handle, **arrays)
    (folder / 'a_file').write_text('x')
    (folder / 'sub').mkdir()
    shutil.copyfile(sample_slide, folder / 'slide.svs')
    os.symlink(folder / 'slide.svs', folder / 'link.svs')
    os.mkfifo(folder / 'fifo.svs')
    from PIL import Image

    Image.new('RGB', (1200, 1600), (250, 250, 250)).save(folder / 'white.png')
    slides.damage_a_tile(slides.write_pyramid(str(folder / 'damaged.tiff'), slides.read_sample(),
                                              slides.SAMPLE_MPP, compression='zlib'))
    (folder / 'badmodel').mkdir()
    (folder / 'badmodel' / 'config.json').write_text('{garbage')
    os.symlink(folder / 'loop2.svs', folder / 'loop.svs')
    os.symlink(folder / 'loop.svs', folder / 'loop2.svs')
    zero = store.load(str(good))
    zero.embeddings = np.array(zero.embeddings)
    zero.embeddings[zero.grid.cell_of_point(*map(float, KEYPOINT.split(',')))] = 0
    zero.norms = None
    store.save(str(folder / 'zero.npz'), zero)
    return folder


# name in docs/errors.rst, extra arguments, exit code, words the message must contain
ROWS = [
    ('missing image', ['{folder}/nowhere.svs'], 2, 'does not exist'),
    ('unreadable image', ['{folder}/notes.svs'], 2, 'cannot read'),
    ('damaged slide', ['{folder}/damaged.tiff', '--model', 'Test'], 2, 'damaged or incomplete'),
    ('tile size', ['{slide}', '--tile-size', '-5'], 2, 'tile size'),
    ('tile size', ['{slide}', '--tile-size', '100000'], 2, 'tile size'),
    ('stride', ['{slide}', '--stride', '-1'], 2, 'stride'),
    ('batch size', ['{slide}', '--batch-size', '0'], 2, 'batch size'),
    ('batch size', ['{slide}', '--batch-size', '100000'], 2, 'batch size'),
    ('key point outside', ['{slide}', '--keypoints', '5000,100'], 2, 'outside the image'),
    ('malformed key point', ['{slide}', '--keypoints', '10,20,30'], 2, 'x,y pairs'),
    ('malformed key point', ['{slide}', '--keypoints', 'abc'], 2, 'keypoints'),
    ('degenerate polygon', ['{slide}', '--keypoints', '10,10,20,20,10,10,20,20'], 2,
     'at least 3 distinct vertices'),
    ('empty rectangle', ['{slide}', '--keypoints', '10,10,0,5'], 2, 'no area'),
    ('region outside', ['{slide}', '--keypoints', '5000,5000,300,300'], 2, 'outside the image'),
    ('annotations, no Girder', ['{slide}', '--positive-annotations', 'tumour'], 2,
     'reads annotations from Girder'),
    ('threshold', ['{slide}', '--threshold', '1.5'], 2, 'threshold'),
    ('colour', ['{slide}', '--color', 'blurple'], 2, 'colour'),
    ('unknown model', ['{slide}', '--model', 'UNI3'], 2, 'invalid choice'),
    ('unknown model', ['{slide}', '--custom-model', 'UNI3'], 2, 'unknown model'),
    ('model needs its code', ['{slide}', '--model', 'CTransPath'], 3, 'timm_ctp'),
    ('corrupt cache', ['{slide}', '--input-embeddings', '{folder}/corrupt.npz'], 4, 'unreadable'),
    ('truncated cache', ['{slide}', '--input-embeddings', '{folder}/truncated.npz'], 4,
     'unreadable or truncated'),
    ('pickled cache', ['{slide}', '--input-embeddings', '{folder}/pickled.npz'], 4,
     'Python objects'),
    ('mismatched cache', ['{slide}', '--input-embeddings', '{folder}/good.npz', '--stride', '112'],
     4, 'does not match'),
    ('future cache', ['{slide}', '--input-embeddings', '{folder}/future.npz'], 4,
     'newer than this software'),
    ('missing cache', ['{slide}', '--input-embeddings', '{folder}/gone.npz'], 2, 'does not exist'),
    ('output folder', ['{slide}', '--output-embeddings', '{folder}/no/such/dir/e.npz'], 6,
     'does not exist'),
    ('output folder', ['{slide}', '--output-embeddings', '{folder}/a_file/e.npz'], 6,
     'does not exist'),
    ('output folder', ['{slide}', '--output-embeddings', '/proc/1/e.npz'], 6, 'not writable'),
    ('girder half configured', ['{slide}', '--api-url', 'http://127.0.0.1:9/api/v1'], 2,
     '--girder-token'),
    ('output is an input', ['{folder}/slide.svs', '--output-overlay', '{folder}/slide.svs'], 2,
     'is one of the inputs'),
    ('output is an input', ['{folder}/slide.svs', '--output-embeddings', '{folder}/slide.svs'],
     2, 'is one of the inputs'),
    ('output is an input', ['{folder}/slide.svs', '--output-annotation',
                            '{folder}/sub/../link.svs'], 2, 'is one of the inputs'),
    ('output is an input', ['{slide}', '--input-embeddings', '{folder}/good.npz',
                            '--output-annotation', '{folder}/good.npz'], 2,
     'is one of the inputs'),
    ('outputs collide', ['{slide}', '--output-annotation', '{folder}/x.out', '--output-overlay',
                         '{folder}/sub/../x.out'], 2, 'are the same file'),
    ('image is not a file', ['{folder}/fifo.svs'], 2, 'not a regular file'),
    ('image is not a file', ['/dev/zero'], 2, 'not a regular file'),
    ('cache is a folder', ['{slide}', '--input-embeddings', '{folder}/sub'], 2,
     'is a folder'),
    ('scheduler', ['{slide}', '--scheduler', 'garbage'], 2, 'tcp://HOST:PORT'),
    ('girder url', ['{slide}', '--api-url', 'localhost:8080/api/v1', '--girder-token', 't'], 2,
     'not an http(s) URL'),
    ('scale out of range', ['{slide}', '--mpp', '10000'], 2, 'outside 0.02 µm/px to 100 µm/px'),
    ('scale out of range', ['{slide}', '--magnification', '1000'], 2, 'outside 0.1x to 500x'),
    ('huge coordinate', ['{slide}', '--keypoints', '1e308,1e308,1e308,1e308'], 2,
     'larger than any slide'),
    ('girder id', ['{slide}', '--image-id', 'xyz/../../user', '--api-url',
                   'http://127.0.0.1:9/api/v1', '--girder-token', 't'], 2, 'not a Girder id'),
    ('girder id', ['{slide}', '--annotation-id', '../user/me', '--api-url',
                   'http://127.0.0.1:9/api/v1', '--girder-token', 't'], 2, 'not a Girder id'),
    ('empty annotation names', ['{slide}', '--positive-annotations', ',,,'], 2,
     'names no annotation'),
    ('broken model config', ['{slide}', '--model', 'Test', '--custom-model',
                             'local:{folder}/badmodel'], 3, 'not a readable JSON config'),
    ('click on glass', ['{slide}', '--keypoints', '100,100'], 2, 'is on glass'),
    ('nothing to look for', ['{slide}', '--keypoints', '-1,-1', '--api-url',
                             'http://127.0.0.1:9/api/v1', '--girder-token', 't'], 2,
     'click a point or draw a region on the tissue, or type words, then Submit'),
    ('no tissue', ['{folder}/white.png'], 2, 'found no tissue'),
    ('return file folder', ['{slide}', '--returnparameterfile', '{folder}/no/such/r.txt',
                            '--output-embeddings', '{folder}/never.npz'], 6, 'does not exist'),
    ('symlink loop', ['{folder}/loop.svs'], 2, 'is a symlink loop'),
    ('symlink loop', ['{slide}', '--input-embeddings', '{folder}/loop.svs'], 2,
     'is a symlink loop'),
    ('symlink loop', ['{slide}', '--output-embeddings', '{folder}/loop.svs/e.npz'], 6,
     'is a symlink loop'),
    ('zero embedding', ['{slide}', '--input-embeddings', '{folder}/zero.npz',
                        '--output-annotation', '{folder}/never.anot'], 2, 'embedding is zero'),
    ('grid too large', ['{slide}', '--stride', '1'], 2, 'use --stride 3 or more'),
]

MEMORY = {'EMBEDDING_SIMILARITY_MEMORY_GB': '0.25'}
"""A small memory budget for every row, so that a too fine grid is refused on any machine."""


def _listing(folder) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(folder)) if (folder / name).is_file()}


def error_message(stderr: str) -> str:
    """The error line and, where there is one, the administrator's detail line after it (the
    errors a pathologist meets say what to do first; flags and environment variables follow)."""
    lines = stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if 'error:' in line)
    detail = lines[at + 1:at + 2]
    return '\n'.join(lines[at:at + 1] + [d for d in detail if d.startswith('  for the '
                                                                       'administrator: ')])



@pytest.mark.parametrize('name, args, code, words', ROWS,
                         ids=['%s-%d' % (row[0], i) for i, row in enumerate(ROWS)])
def test_bad_input_gives_one_line_and_loses_nothing(cli, cases, sample_slide, tmp_path, name,
                                                    args, code, words):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.npz').write_bytes(b'a file the user already had')
    before_cases = _listing(cases)
    filled = [a.format(folder=cases, slide=sample_slide) for a in args]
    if not any(a.startswith('--output') for a in filled):
        filled += ['--output-embeddings', str(out / 'e.npz'), '--output-annotation',
                   str(out / 'h.anot'), '--output-overlay', str(out / 'h.png')]
    if '--keypoints' not in filled:
        filled += ['--keypoints', KEYPOINT]
    if '--model' not in filled:
        filled = ['--model', 'Test', *filled]
    result = cli(*filled, env=MEMORY)
    assert result.returncode == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith('EmbeddingSimilarity: error: ')
    assert words in error_message(result.stderr), result.stderr
    assert 'Traceback' not in result.stderr
    # nothing half-written, nothing of the user's lost
    assert sorted(os.listdir(out)) == ['keep.npz']
    assert (out / 'keep.npz').read_bytes() == b'a file the user already had'
    assert _listing(cases) == before_cases


def test_every_row_is_documented():
    with open(os.path.join(REPO, 'docs', 'errors.rst')) as handle:
        text = handle.read()
    for name, *_ in ROWS:
        assert '| %s ' % name in text or '%s  ' % name in text, name


def test_debug_shows_the_traceback(cli, tmp_path):
    result = cli(str(tmp_path / 'nowhere.svs'), '--debug')
    assert result.returncode == 2
    assert 'Traceback' in result.stderr


def test_token_is_never_printed(cli, sample_slide, tmp_path):
    token = 'tok' + os.urandom(16).hex()
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--debug',
                 '--api-url', 'http://127.0.0.1:9/api/v1', '--girder-token', token,
                 '--image-id', '0' * 24, '--output-dir', str(tmp_path))
    assert result.returncode == 5
    assert 'parameters:' in result.stderr and "girderToken=***" in result.stderr
    assert token not in result.stdout and token not in result.stderr


def _kill_when_checkpointed(command: list[str], checkpoint: str) -> int:
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if os.path.exists(checkpoint) and store.load(checkpoint).embedded.sum() >= 200:
            break
        if proc.poll() is not None:
            raise AssertionError('run ended before it was interrupted: %s' % proc.stderr.read())
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert 'interrupted' in stderr, stderr
    # the one line says what was kept, and where
    assert 'kept in %s' % checkpoint in stderr and '<output>' not in stderr, stderr
    return proc.returncode


def test_interrupted_run_resumes_to_the_same_grid(sample_slide, tmp_path):
    """Kill a run midway: the old good cache is untouched, the rerun resumes and matches."""
    out = tmp_path / 'e.npz'
    base = [sys.executable, '-m', 'EmbeddingSimilarity', sample_slide, '--model', 'Test']
    # a good cache from an earlier run with another stride sits at the output path
    subprocess.run(base + ['--output-embeddings', str(out)], cwd=REPO, check=True,
                   capture_output=True)
    good = out.read_bytes()
    fine = ['--stride', '24', '--batch-size', '8', '--checkpoint-seconds', '0',
            '--output-embeddings']
    code = _kill_when_checkpointed(base + fine + [str(out)], str(out) + '.partial')
    assert code == 130
    assert out.read_bytes() == good
    partial = store.load(str(out) + '.partial')
    assert not partial.complete and partial.embedded.sum() > 0
    resumed = subprocess.run(base + fine + [str(out)], cwd=REPO, capture_output=True, text=True,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert 'reusing %d embedded cells' % partial.embedded.sum() in resumed.stderr
    assert not os.path.exists(str(out) + '.partial')
    straight = tmp_path / 'straight.npz'
    subprocess.run(base + fine[:-1] + ['--output-embeddings', str(straight)], cwd=REPO,
                   check=True, capture_output=True)
    a, b = store.load(str(out)), store.load(str(straight))
    assert a.complete and (a.embedded == b.embedded).all()
    assert np.array_equal(a.embeddings, b.embeddings)
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.tmp')]


def test_values_that_start_with_a_minus_are_values(cli, sample_slide, tmp_path):
    """The XML's own "no point" value ``-1,-1`` (and any negative value) parses."""
    result = cli(sample_slide, '--model', 'Test', '--keypoints', '-1,-1', '--negative-keypoints',
                 '-1,-1', '--threshold', '-0.5', '--output-embeddings', str(tmp_path / 'e.npz'))
    assert result.returncode == 0, result.stderr
    assert 'no key point given' in result.stderr


def test_a_missing_image_creates_no_output_folder(cli, tmp_path):
    result = cli(str(tmp_path / 'nowhere.svs'), '--output-dir', str(tmp_path / 'new'))
    assert result.returncode == 2 and 'does not exist' in result.stderr
    assert not (tmp_path / 'new').exists()


def test_default_names_never_replace_the_image(cli, sample_slide, tmp_path):
    """``photo.png`` run in its own folder keeps the photo and writes beside it."""
    from PIL import Image

    from EmbeddingSimilarity.slide.source import open_slide, thumbnail

    photo = tmp_path / 'photo.png'
    Image.fromarray(thumbnail(open_slide(sample_slide), 555, 742)).save(photo)
    before = photo.read_bytes()
    result = cli(str(photo), '--model', 'Test', '--keypoints', '250,370', '--mpp', '2',
                 cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert photo.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['photo.Test.npz', 'photo.png',
                                            'photo.similarity.anot', 'photo.similarity.png']


def test_interrupt_without_an_output_says_nothing_was_kept(sample_slide, tmp_path):
    command = [sys.executable, '-m', 'EmbeddingSimilarity', sample_slide, '--model', 'Test',
               '--stride', '24', '--batch-size', '8', '--keypoints', KEYPOINT,
               '--output-annotation', str(tmp_path / 'h.anot')]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    seen = []
    for line in proc.stderr:  # wait for the embedding stage to begin
        seen.append(line)
        if 'embedding' in line and 'cells with Test' in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stderr = ''.join(seen) + proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 130, stderr
    line, = [text for text in stderr.splitlines() if 'interrupted' in text]
    # under load the signal may come before the first batch is done: then nothing was embedded
    assert ('embedded cells were not saved (no --output-embeddings)' in line
            or line.endswith('stopped before any cell was embedded; nothing was saved')), line
    assert os.listdir(tmp_path) == []


def test_an_interrupt_before_any_cell_keeps_no_checkpoint(sample_slide, tmp_path):
    """Nothing embedded yet: no megabytes of zeros as ``.partial``, and the line says so."""
    from EmbeddingSimilarity.cache.local import Checkpointer, empty_grid, partial_path
    from EmbeddingSimilarity.steps.plan import make_plan
    from EmbeddingSimilarity.steps.request import Request

    output = str(tmp_path / 'e.npz')
    plan = make_plan(Request.of(sample_slide, model='Test', output_embeddings=output))
    data = empty_grid(plan.provenance)
    data.tissue_fraction = np.ones(data.embedded.shape, np.float32)
    keeper = Checkpointer(data, output, 60.0, plan.spec.embed_dim, plan.spec.name)
    assert keeper.interrupted() == 'stopped before any cell was embedded; nothing was saved'
    assert not os.path.exists(partial_path(output))
    keeper.keep(np.array([[0, 0]]), np.ones((1, plan.spec.embed_dim), np.float32))
    assert keeper.interrupted().startswith('1 embedded cells are kept in ')
    assert store.load(partial_path(output)).embedded.sum() == 1


def test_an_unreadable_cache_says_why(cases, monkeypatch):
    """Permission denied is reported as such, not as a truncated file (simulated: root reads
    everything)."""
    import builtins

    from EmbeddingSimilarity.errors import CacheError

    path = str(cases / 'good.npz')
    real_open = builtins.open

    def denied(file, *args, **kwargs):
        if os.fspath(file) == path:
            raise PermissionError(13, 'Permission denied', path)
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(builtins, 'open', denied)
    with pytest.raises(CacheError) as caught:
        store.load(path)
    message = str(caught.value)
    assert 'Permission denied' in message and 'truncated' not in message, message
    assert 'permissions' in message


def test_a_renamed_copy_of_a_slide_uses_its_cache(cli, cases, sample_slide, tmp_path):
    """The fingerprint identifies the bytes, not the file name."""
    copy = tmp_path / 'renamed copy.svs'
    shutil.copyfile(sample_slide, copy)
    result = cli(str(copy), '--model', 'Test', '--keypoints', KEYPOINT, '--input-embeddings',
                 str(cases / 'good.npz'), '--output-annotation', str(tmp_path / 'h.anot'))
    assert result.returncode == 0, result.stderr
    assert 'cells with Test' not in result.stderr, result.stderr  # nothing embedded again


def test_a_cache_fingerprinted_by_name_still_serves(cli, cases, sample_slide, tmp_path):
    """Caches written before the fingerprint ignored the name are still read."""
    from EmbeddingSimilarity.slide.source import legacy_fingerprint

    old = store.load(str(cases / 'good.npz'))
    old.embeddings = np.array(old.embeddings)
    old.provenance.image.fingerprint = legacy_fingerprint(sample_slide)
    old.provenance.image.stat = None
    assert old.provenance.image.fingerprint != store.load(
        str(cases / 'good.npz')).provenance.image.fingerprint
    store.save(str(tmp_path / 'old.npz'), old)
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--input-embeddings',
                 str(tmp_path / 'old.npz'), '--output-annotation', str(tmp_path / 'h.anot'))
    assert result.returncode == 0, result.stderr
    assert 'cells with Test' not in result.stderr, result.stderr


def test_a_local_dask_run_is_quiet(cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--scheduler',
                 'local', '--num_workers', '2', '--output-dir', str(tmp_path))
    assert result.returncode == 0, result.stderr
    chatter = [line for line in result.stderr.splitlines()
               if not line.startswith(('<filter', 'EmbeddingSimilarity'))]
    assert len(chatter) <= 2, result.stderr
    assert 'Traceback' not in result.stderr and 'CommClosedError' not in result.stderr


@pytest.mark.parametrize('cells', [0, 1])
def test_too_few_tissue_cells_for_clusters_never_says_at_most_0(cells):
    from EmbeddingSimilarity.errors import InputError
    from EmbeddingSimilarity.query.clusters import check_clusters

    with pytest.raises(InputError) as caught:
        check_clusters(3, cells)
    message = str(caught.value)
    assert 'at most %d' % cells not in message and 'too few' in message, message


def test_a_fine_stride_reads_small_blocks():
    """Stride 1 must not copy millions of overlapping tiles out of one block."""
    from EmbeddingSimilarity.slide.reader import plan_blocks
    from EmbeddingSimilarity.slide.tiling import plan_grid

    grid = plan_grid(2220, 2967, 224, 1, 1.0)
    wanted = np.ones(grid.shape, dtype=bool)
    wanted[200:, :] = False  # a strip: planning every block of the grid is slow
    blocks = plan_blocks(grid, wanted)
    assert max(len(b.cells) for b in blocks) * 224 * 224 * 3 <= 256 << 20


@pytest.mark.parametrize('args, first_words', [
    (['--api-url', 'http://127.0.0.1:9/api/v1', '--girder-token', 'abc', '--keypoints', '-1,-1'],
     'click a point or draw a region on the tissue, or type words, then Submit'),
    (['--keypoints', '100,100'], 'is on glass: click on the tissue itself'),
    (['--keypoints', '5000,100'], 'is outside the image: click on the slide itself'),
])
def test_what_a_pathologist_meets_says_what_to_do_first(cli, sample_slide, tmp_path, args,
                                                        first_words):
    """The first line is in the words of the person at the slide (no flag, no environment
    variable); the administrator's detail follows on the next line of the job log. Submit with
    nothing clicked fails before any work instead of an empty job."""
    result = cli(sample_slide, '--model', 'Test', *args, '--output-dir', str(tmp_path))
    assert result.returncode == 2, result.stderr
    message = error_message(result.stderr).splitlines()
    assert first_words in message[0], message
    assert '--' not in message[0].partition('error: ')[2] and 'HF_' not in message[0], message
    assert len(message) == 2 and message[1].startswith('  for the administrator: '), message
    assert len(message[1].split(': ', 1)[1]) > 20, message  # the detail is there
    assert os.listdir(tmp_path) == []  # nothing computed, nothing written


def test_nothing_clicked_still_embeds_where_asked(cli, sample_slide, tmp_path):
    """Embeddings only stays possible: outside Girder (-1,-1, the default) it computes the cache
    (test_values_that_start_with_a_minus_are_values), and a Girder job that keeps its files is
    let through to the connection (here refused, so exit 5, not the nothing-clicked error)."""
    result = cli(sample_slide, '--model', 'Test', '--api-url', 'http://127.0.0.1:9/api/v1',
                 '--girder-token', 'abc', '--keep-output-files', 'true', '--output-embeddings',
                 str(tmp_path / 'e.npz'))
    assert 'nothing to look for' not in result.stderr, result.stderr
    assert result.returncode == 5, result.stderr
