"""Hostile input: the classes of issue #36 stay closed. Each test failed on the commit before
the fix it names (outputs replaced devices, shared caches, exit 1 from the terminal side, ...).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import pytest
from conftest import REPO, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_output_guard import OUTPUTS

from EmbeddingSimilarity.cli.main import main

SPECIAL = ('char device', 'fifo', 'socket', 'folder', 'symlink loop', 'link to a device')


@pytest.fixture(scope='module')
def hostile_world(sample_slide):
    """A query slide, a collection, and every kind of non-regular file an output may name (in a
    short folder: a socket's path is limited to 107 bytes)."""
    world = tempfile.mkdtemp(prefix='hostile')
    shutil.copy(sample_slide, os.path.join(world, 'query.svs'))
    os.makedirs(os.path.join(world, 'archive'))
    os.makedirs(os.path.join(world, 'out'))
    shutil.copy(sample_slide, os.path.join(world, 'archive', 'other.svs'))
    os.mkfifo(os.path.join(world, 'fifo'))
    server = socket.socket(socket.AF_UNIX)
    server.bind(os.path.join(world, 'socket'))
    os.mkdir(os.path.join(world, 'folder'))
    os.symlink(os.path.join(world, 'loop2'), os.path.join(world, 'loop'))
    os.symlink(os.path.join(world, 'loop'), os.path.join(world, 'loop2'))
    device, terminal = _private_device(world)
    os.symlink(device, os.path.join(world, 'devlink'))
    yield world
    server.close()
    for fd in terminal:
        os.close(fd)
    shutil.rmtree(world)


def _private_device(world: str) -> tuple[str, tuple[int, ...]]:
    """A character device of this test's own, never a shared one such as /dev/null (a regressed
    writer would replace it for the whole machine): a null device made in ``world`` where this
    user may (root), else a new pseudo-terminal; the descriptors to close."""
    device = os.path.join(world, 'device')
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        return device, ()
    except PermissionError:
        main_fd, terminal_fd = os.openpty()
        os.symlink(os.ttyname(terminal_fd), device)
        return device, (main_fd, terminal_fd)


def _special(world: str, kind: str) -> str:
    return {'char device': os.path.join(world, 'device'), 'fifo': os.path.join(world, 'fifo'),
            'socket': os.path.join(world, 'socket'), 'folder': os.path.join(world, 'folder'),
            'symlink loop': os.path.join(world, 'loop'),
            'link to a device': os.path.join(world, 'devlink')}[kind]


def _argv(cli: str, world: str, option: str, target: str) -> list[str]:
    argv = [os.path.join(world, 'query.svs'), '--model', 'Test', '--output-dir',
            os.path.join(world, 'out'), option, target]
    if cli != 'EmbeddingClusters':
        argv += ['--keypoints', '1000,1500']
    if cli == 'CollectionSimilarity':
        argv += ['--collection', os.path.join(world, 'archive')]
    return argv


@settings(max_examples=80, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(st.sampled_from(OUTPUTS), st.sampled_from(SPECIAL))
def test_an_output_is_only_ever_a_regular_file(hostile_world, capsys, output, kind):
    """Every output of every CLI's XML, pointed at a device, FIFO, socket, folder, symlink loop
    or a link to a device, is refused before any work with exit 6, and the thing is kept."""
    cli, option = output
    target = _special(hostile_world, kind)
    before = os.lstat(target)
    code = main(_argv(cli, hostile_world, option, target), cli)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 6, (cli, option, kind, err)
    assert len(lines) == 1 and lines[0].startswith(cli + ': error: '), lines
    after = os.lstat(target)
    assert (after.st_ino, after.st_mode, after.st_dev) == (before.st_ino, before.st_mode,
                                                           before.st_dev)
    assert sorted(os.listdir(hostile_world)) == sorted(
        ['query.svs', 'archive', 'out', 'fifo', 'socket', 'folder', 'loop', 'loop2', 'devlink',
         'device'])
    assert os.listdir(os.path.join(hostile_world, 'out')) == []


def test_the_atomic_writer_never_renames_over_a_device(hostile_world):
    """The last line of defence, for a path that changed after the guard looked."""
    from EmbeddingSimilarity.atomic import write_bytes
    from EmbeddingSimilarity.errors import OutputError

    for kind in SPECIAL:
        target = _special(hostile_world, kind)
        before = os.lstat(target)
        with pytest.raises(OutputError):
            write_bytes(target, b'x')
        assert os.lstat(target).st_ino == before.st_ino, kind


def test_an_output_name_too_long_or_through_a_dangling_link_is_refused_before_work(
        hostile_world, capsys):
    long_name = os.path.join(hostile_world, 'x' * 300 + '.png')
    dangling = os.path.join(hostile_world, 'dangling.png')
    os.symlink(os.path.join(hostile_world, 'nowhere', 'out.png'), dangling)
    try:
        for target in (long_name, dangling):
            code = main(_argv('EmbeddingSimilarity', hostile_world, '--output-overlay', target),
                        'EmbeddingSimilarity')
            err = capsys.readouterr().err
            assert code == 6 and len(err.strip().splitlines()) == 1, err
    finally:
        os.unlink(dangling)


def test_slides_differing_only_by_extension_get_a_cache_each(cli, sample_slide, tmp_path):
    """x.svs and x.tif once shared x.Test.npz: a folder run refused them ("give each output its
    own path"), a collection search re-embedded one over the other's cache."""
    folder = tmp_path / 'slides'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'x.svs')
    shutil.copy(sample_slide, folder / 'x.tif')
    out = tmp_path / 'out'
    result = cli(str(folder), '--model', 'Test', '--output-dir', str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ['x.svs.Test.npz', 'x.tif.Test.npz']


def test_a_rewritten_slide_with_its_old_name_size_and_mtime_is_not_served_from_cache(
        cli, sample_slide, tmp_path):
    from EmbeddingSimilarity.cache.local import known_image

    slide, cache = tmp_path / 'x.svs', tmp_path / 'x.npz'
    shutil.copy(sample_slide, slide)
    result = cli(str(slide), '--model', 'Test', '--output-embeddings', str(cache))
    assert result.returncode == 0, result.stderr
    assert known_image(str(slide), '', str(cache)) is not None
    before = os.stat(slide)
    data = bytearray(slide.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the middle MiB: inside the fingerprint's sample
    slide.write_bytes(bytes(data))
    os.utime(slide, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (os.stat(slide).st_size, os.stat(slide).st_mtime_ns) == (before.st_size,
                                                                    before.st_mtime_ns)
    assert known_image(str(slide), '', str(cache)) is None


@pytest.fixture(scope='module')
def embedded_slide(tmp_path_factory, sample_slide):
    """A slide with a non-ASCII name and its embeddings (so each terminal case runs in seconds)."""
    folder = tmp_path_factory.mktemp('terminal')
    slide = folder / 'sämple.svs'
    shutil.copy(sample_slide, slide)
    result = run_cli(str(slide), '--model', 'Test', '--output-embeddings',
                     str(folder / 'cache.npz'))
    assert result.returncode == 0, result.stderr
    return slide, folder / 'cache.npz'


TERMINALS = {'stdout closed': ('>&-', {}), 'stderr closed': ('2>&-', {}),
             'stdout full': ('>/dev/full', {}), 'stderr full': ('2>/dev/full', {}),
             'ascii locale': ('', {'PYTHONIOENCODING': 'ascii', 'LC_ALL': 'C'})}


@pytest.mark.parametrize('case', sorted(TERMINALS) + ['stdout into head'])
def test_the_terminal_side_never_gives_exit_1(case, embedded_slide, tmp_path):
    """A closed, full or early-closed stdout or stderr, or a locale that cannot spell the file
    name, once gave "internal error" (exit 1); the run now finishes and writes its outputs."""
    slide, cache = embedded_slide
    overlay = tmp_path / 'ö.png'
    args = [sys.executable, '-m', 'EmbeddingSimilarity', str(slide), '--model', 'Test',
            '--input-embeddings', str(cache), '--keypoints', '1000,1500', '--output-overlay',
            str(overlay), '--output-annotation', str(tmp_path / 'a.anot')]
    env = dict(os.environ, PYTHONPATH=REPO)
    if case == 'stdout into head':
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        process.stdout.read(20)  # the first bytes, then the reader goes away, as head does
        process.stdout.close()
        err = process.stderr.read().decode()
        code = process.wait(timeout=300)
    else:
        redirect, extra = TERMINALS[case]
        env.update(extra)
        result = subprocess.run(['bash', '-c', '"$@" %s' % redirect, 'run', *args], cwd=REPO,
                                env=env, capture_output=True, timeout=300, check=False)
        code, err = result.returncode, result.stderr.decode(errors='replace')
    assert code == 0, (case, err)
    assert 'internal error' not in err and 'Traceback' not in err
    assert overlay.stat().st_size > 0


@pytest.mark.parametrize('redirect', ['2>/dev/full'])
def test_an_error_with_nowhere_to_say_it_keeps_its_exit_code(redirect, tmp_path):
    result = subprocess.run(['bash', '-c', '"$@" %s' % redirect, 'run', sys.executable, '-m',
                             'EmbeddingSimilarity', str(tmp_path / 'nowhere.svs')],
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO),
                            capture_output=True, timeout=300, check=False)
    assert result.returncode == 2, result.stdout


def test_every_log_line_names_the_cli_that_runs(embedded_slide, tmp_path):
    """EmbeddingClusters' log lines began with "EmbeddingSimilarity:"."""
    slide, cache = embedded_slide
    result = subprocess.run(
        [sys.executable, '-c', 'import sys; from EmbeddingSimilarity.cli.main import '
         'clusters_main; sys.exit(clusters_main())', str(slide), '--model', 'Test',
         '--input-embeddings', str(cache), '--output-overlay', str(tmp_path / 'c.png'),
         '--output-annotation', str(tmp_path / 'c.anot')],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True,
        timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith('EmbeddingClusters: ') for line in lines), lines


GIRDER = ['--api-url', 'http://127.0.0.1:9/api/v1', '--girder-token', 'secret-token']
BEFORE_WORK = {
    'timeout 0': (GIRDER, {'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': '0'}),
    'timeout negative': (GIRDER, {'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': '-5'}),
    'timeout nan': (GIRDER, {'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': 'nan'}),
    'timeout inf': (GIRDER, {'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': 'inf'}),
    'timeout text': (GIRDER, {'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': 'soon'}),
    'api port': (['--api-url', 'http://127.0.0.1:99999/api/v1', '--girder-token', 't'], {}),
    'api ipv6': (['--api-url', 'http://[::1/api/v1', '--girder-token', 't'], {}),
    'api newline': (['--api-url', 'http://127.0.0.1:9/api/v1\nX', '--girder-token', 't'], {}),
    'token newline': (['--api-url', 'http://127.0.0.1:9/api/v1', '--girder-token', 'a\nb'], {}),
    'scheduler port': (['--scheduler', 'tcp://127.0.0.1:99999'], {'words': 'PORT 1 to 65535'}),
    'scheduler tls': (['--scheduler', 'tls://127.0.0.1:8786'], {}),
    'checkpoint nan': (['--checkpoint-seconds', 'nan'], {}),
    'hub id with ..': (['--custom-model', 'timm:hf_hub:org/..'], {}),
}


@pytest.mark.parametrize('case', sorted(BEFORE_WORK))
def test_arguments_and_environment_are_checked_before_any_work(case, embedded_slide, tmp_path,
                                                              capsys, monkeypatch):
    """Each of these once cost the whole embedding and then exited 5 or 6, or was an internal
    error (exit 1), or was accepted."""
    slide, _ = embedded_slide
    extra, env = BEFORE_WORK[case]
    for name, value in env.items():
        if name != 'words':
            monkeypatch.setenv(name, value)
    monkeypatch.setenv('DASK_DISTRIBUTED__COMM__TLS__CA_FILE', '')
    out = tmp_path / 'out'
    code = main([str(slide), '--model', 'Test', '--keypoints', '1000,1500', '--output-dir',
                 str(out), *extra], 'EmbeddingSimilarity')
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (case, err)
    assert len(lines) == 1 and lines[0].startswith('EmbeddingSimilarity: error: '), lines
    assert 'secret-token' not in err and len(lines[0]) < 400
    assert env.get('words', '') in err
    assert not out.exists() or os.listdir(out) == []


def test_credentials_in_a_url_are_never_printed(embedded_slide, tmp_path, capsys):
    slide, cache = embedded_slide
    code = main([str(slide), '--model', 'Test', '--keypoints', '1000,1500', '--input-embeddings',
                 str(cache), '--output-overlay', str(tmp_path / 'o.png'), '--api-url',
                 'http://alice:hunter2@127.0.0.1:9/api/v1', '--girder-token', 'tok',
                 '--image-id', 'a' * 24, '--progressive', 'false'], 'EmbeddingSimilarity')
    err = capsys.readouterr().err
    assert code == 5, err
    assert 'hunter2' not in err and 'alice' not in err and '***@127.0.0.1' in err


def test_a_collection_girder_id_is_checked_like_the_image_id(embedded_slide, tmp_path, capsys):
    slide, _ = embedded_slide
    code = main([str(slide), '--model', 'Test', '--keypoints', '1000,1500', '--collection',
                 '../../user/me', '--output-dir', str(tmp_path), *GIRDER],
                'CollectionSimilarity')
    err = capsys.readouterr().err
    assert code == 2 and 'Girder folder id' in err, err


@pytest.mark.parametrize('text', ['\u200b\u200d', 'tumour;\u2060', ';'.join(['tumour'] * 1001)])
def test_an_invisible_or_endless_prompt_list_is_refused(text):
    from EmbeddingSimilarity.errors import InputError
    from EmbeddingSimilarity.models.text import split_prompts

    with pytest.raises(InputError) as caught:
        split_prompts(text)
    assert '\n' not in str(caught.value) and len(str(caught.value)) < 300


@pytest.fixture
def girder_that_falls_silent():
    """An HTTP server that accepts the token (GET token/current) and then never answers
    anything else; the paths it was asked for."""
    import http.server
    import json
    import threading

    asked: list[str] = []
    stop = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split('?')[0].endswith('/token/current'):
                body = json.dumps({'userId': 'b' * 24}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            asked.append(self.path)
            stop.wait(30)  # silent

        do_POST = do_PUT = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d/api/v1' % server.server_address[1], asked
    stop.set()
    server.shutdown()
    server.server_close()


def test_a_girder_that_falls_silent_costs_one_timeout_not_one_per_preview(
        girder_that_falls_silent, sample_slide, tmp_path):
    url, asked = girder_that_falls_silent
    result = run_cli(sample_slide, '--model', 'Test', '--keypoints', '1000,1500', '--api-url',
                     url, '--girder-token', 'abc', '--image-id', 'a' * 24, '--progressive',
                     'true', '--output-embeddings', str(tmp_path / 'e.npz'),
                     env={'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': '2'}, timeout=300)
    assert result.returncode == 5, result.stderr
    assert len(asked) == 1, asked  # the first call waited its timeout; nothing asked after it
    assert 'no other call was tried' in result.stderr.strip().splitlines()[-1]
    assert (tmp_path / 'e.npz').exists()


def test_messages_about_a_huge_outline_stay_short():
    """A region outside the image once echoed every vertex (a 1 MB line)."""
    import numpy as np

    from EmbeddingSimilarity.errors import InputError
    from EmbeddingSimilarity.query.shapes import check_shapes_inside, parse_shapes

    angles = np.linspace(0, 2 * np.pi, 100000, endpoint=False)
    outline = [v for a in angles for v in (9e6 + 1000 * np.cos(a), 9e6 + 1000 * np.sin(a))]
    with pytest.raises(InputError) as caught:
        check_shapes_inside(parse_shapes(outline), 5000, 5000, 'key region')
    assert len(str(caught.value)) < 300 and '100000 vertices' in str(caught.value)
    with pytest.raises(InputError) as caught:
        parse_shapes(outline[:-1] + [float('nan')])
    assert len(str(caught.value)) < 300


def test_no_nan_reaches_a_person():
    """An all-white image with --tissue-threshold 0 described its cut-off as "nan"."""
    import numpy as np

    from EmbeddingSimilarity.query.calibration import Calibration

    calibration = Calibration(cutoff=float('nan'), cutoff_percentile=float('nan'), quantiles={},
                              baseline={}, hits=np.zeros((2, 2), bool), regions=0, area=0.0,
                              area_unit='mm²', tissue_share=0.0)
    assert 'nan' not in calibration.description().lower()


@pytest.fixture(scope='module')
def cut_tiff(tmp_path_factory):
    """A tiled pyramid TIFF cut at 90% (its small levels lost; it still opens in libtiff)."""
    import slides

    folder = tmp_path_factory.mktemp('cut')
    whole = slides.write_pyramid(str(folder / 'whole.tiff'), slides.read_sample(),
                                 slides.SAMPLE_MPP, compression='zlib')
    with open(whole, 'rb') as handle:
        data = handle.read()
    cut = folder / 'cut.tiff'
    cut.write_bytes(data[:len(data) * 9 // 10])
    os.unlink(whole)
    return cut


@pytest.mark.parametrize('cli', ['EmbeddingSimilarity', 'EmbeddingClusters'])
def test_a_tiff_cut_short_is_refused_in_one_line(cli, cut_tiff, tmp_path, capsys):
    """It once opened, and its missing tiles were embedded as black tissue (exit 0)."""
    code = main([str(cut_tiff), '--model', 'Test', '--output-dir', str(tmp_path)], cli)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and 'cut short' in lines[-1], err
    assert os.listdir(tmp_path) == []


def test_a_collection_skips_a_tiff_cut_short_with_its_reason(cut_tiff, sample_slide, tmp_path,
                                                             capsys):
    archive = tmp_path / 'archive'
    archive.mkdir()
    shutil.copy(sample_slide, archive / 'good.svs')
    shutil.copy(cut_tiff, archive / 'cut.tiff')
    code = main([str(archive / 'good.svs'), '--model', 'Test', '--keypoints', '1000,1500',
                 '--collection', str(archive), '--output-dir', str(tmp_path)],
                'CollectionSimilarity')
    err = capsys.readouterr().err
    assert code == 0, err
    assert 'cut.tiff cannot be read, skipped' in err and 'cut short' in err
    assert not (archive / 'cut.tiff.Test.npz').exists()


def test_a_dense_stride_is_announced_before_any_work(sample_slide, caplog):
    """--stride 1 once started a 3-million-cell embedding of the sample without a word."""
    import logging

    from EmbeddingSimilarity.steps.plan import make_plan
    from EmbeddingSimilarity.steps.request import Request

    with caplog.at_level(logging.WARNING):
        plan = make_plan(Request.of(image=sample_slide, model='Test', stride=1))
    cells = plan.grid.rows * plan.grid.cols
    assert cells > 1_000_000
    assert any('%d cells' % cells in record.getMessage() and '--stride' in record.getMessage()
               for record in caplog.records), caplog.text


def test_a_zero_embedding_does_not_blame_a_cache_that_may_not_exist():
    """The message said "damaged cell of the cache" when no cache was given."""
    import numpy as np

    from EmbeddingSimilarity.errors import InputError
    from EmbeddingSimilarity.query.similarity import query_vector

    with pytest.raises(InputError) as caught:
        query_vector(np.zeros((2, 2, 4), np.float32), [(0, 0)])
    assert 'of the cache' not in str(caught.value) and 'when the embeddings were read from a' \
        ' file' in str(caught.value)
