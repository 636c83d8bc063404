"""Against a real Girder 3 + large_image server on 127.0.0.1: create, update, reuse, fail well."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from EmbeddingSimilarity import HITS_TOOL_ATTRIBUTE
from EmbeddingSimilarity.cache import store

KEYPOINT = '1000,1500'
OTHER_KEYPOINT = '600,2600'


def _annotations(gc, item_id: str) -> list[dict]:
    """The item's annotations, less the hit polygons posted with each heatmap
    (tests/test_girder_regions.py covers those)."""
    return [doc for doc in gc.get('annotation', parameters={'itemId': item_id, 'limit': 0})
            if HITS_TOOL_ATTRIBUTE not in (doc['annotation'].get('attributes') or {})]


def _task(cli, girder_server, gc, slide, item, *extra: str):
    return cli(slide, '--model', 'Test', '--api-url', girder_server['apiUrl'], '--girder-token',
               gc.token, '--image-id', item['fileId'], *extra)


def test_heatmap_is_created_then_updated_in_place(cli, girder_server, gc, slide_item,
                                                  sample_slide, tmp_path):
    npz = tmp_path / 'e.npz'
    anot = tmp_path / 'h.anot'
    first = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints', KEYPOINT,
                  '--output-embeddings', str(npz), '--output-annotation', str(anot),
                  '--keep-output-files', 'true')
    assert first.returncode == 0, first.stderr
    listed = _annotations(gc, slide_item['_id'])
    assert len(listed) == 1
    annotation = gc.get('annotation/%s' % listed[0]['_id'])
    element, = annotation['annotation']['elements']  # alone, or HistomicsUI does not draw it
    data = store.load(str(npz))
    grid = data.grid
    assert element['type'] == 'griddata' and element['interpretation'] == 'heatmap'
    assert element['origin'][:2] == pytest.approx(list(grid.origin))
    assert element['dx'] == pytest.approx(grid.stride_base)
    assert element['gridWidth'] == grid.cols
    assert len(element['values']) == grid.rows * grid.cols
    assert annotation['annotation']['display']['visible'] is True
    # the .anot output must not make HistomicsUI ingest a second copy
    assert json.loads(anot.read_text()) == []
    first_values = np.array(element['values'])

    second = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints',
                   OTHER_KEYPOINT, '--output-embeddings', str(npz))
    assert second.returncode == 0, second.stderr
    assert '0 embedded now' in second.stderr  # the embeddings were reused
    listed_again = _annotations(gc, slide_item['_id'])
    assert [a['_id'] for a in listed_again] == [listed[0]['_id']]
    updated = gc.get('annotation/%s' % listed[0]['_id'])
    assert updated['_version'] > annotation['_version']
    new_values = np.array(updated['annotation']['elements'][0]['values'])
    assert not np.allclose(new_values, first_values)
    attrs = updated['annotation']['attributes']['EmbeddingSimilarity']
    assert attrs['keypoints'] == [[600.0, 2600.0]]


def test_a_girder_job_writes_no_copies_of_what_girder_holds(cli, girder_server, gc, slide_item,
                                                            sample_slide, tmp_path):
    """HistomicsUI names every output file of the panel: a click must not upload another copy
    of the cache, the annotations and the picture each time. Girder holds them, so the job
    writes none of them (Slicer CLI Web uploads only what was written) and says so, once;
    --keep-output-files writes them all."""
    outputs = {name: tmp_path / name for name in ('e.npz', 'h.anot', 'hits.anot', 'o.png')}
    flags = ('--output-embeddings', '--output-annotation', '--output-hits', '--output-overlay')
    args = [item for flag, path in zip(flags, outputs.values(), strict=True)
            for item in (flag, str(path))]
    run = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints', KEYPOINT, *args)
    assert run.returncode == 0, run.stderr
    assert not [path for path in outputs.values() if path.exists()], os.listdir(tmp_path)
    # said once per run, not once per output (the job log a pathologist reads stays short)
    told = [line for line in run.stderr.splitlines() if 'not writing' in line]
    assert len(told) == 1 and '--keep-output-files true' in told[0], run.stderr[-2000:]
    assert 'cached the embeddings in Girder' in run.stderr
    assert len(_annotations(gc, slide_item['_id'])) == 1
    kept = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints', KEYPOINT, *args,
                 '--keep-output-files', 'true')
    assert kept.returncode == 0, kept.stderr
    assert all(path.stat().st_size > 0 for path in outputs.values())
    assert store.load(str(outputs['e.npz'])).embedded.any()
    assert 'not writing' not in kept.stderr


def test_explicit_annotation_id_is_updated(cli, girder_server, gc, slide_item, sample_slide):
    first = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints', KEYPOINT)
    assert first.returncode == 0, first.stderr
    annotation_id = _annotations(gc, slide_item['_id'])[0]['_id']
    again = cli(sample_slide, '--model', 'Test', '--keypoints', OTHER_KEYPOINT, '--api-url',
                girder_server['apiUrl'], '--girder-token', gc.token, '--annotation-id',
                annotation_id)
    assert again.returncode == 0, again.stderr
    assert [a['_id'] for a in _annotations(gc, slide_item['_id'])] == [annotation_id]


def test_second_click_reuses_embeddings_cached_in_girder(cli, girder_server, gc, slide_item,
                                                         sample_slide, tmp_path):
    """No embedding file given either time: the first run caches in Private, the second finds it."""
    first = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints', KEYPOINT)
    assert first.returncode == 0, first.stderr
    assert 'cached the embeddings in Girder' in first.stderr
    second = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints',
                   OTHER_KEYPOINT)
    assert second.returncode == 0, second.stderr
    assert '0 embedded now' in second.stderr and 'girder:file/' in second.stderr
    me = gc.get('user/me')
    private = gc.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                           'name': 'Private'})[0]
    cache = gc.get('folder', parameters={'parentType': 'folder', 'parentId': private['_id'],
                                         'name': 'EmbeddingSimilarity cache'})[0]
    items = gc.get('item', parameters={'folderId': cache['_id']})
    assert len(items) >= 1
    assert all(item['meta']['EmbeddingSimilarity']['model'] == 'Test' for item in items)


def test_a_renamed_copy_of_a_slide_uses_its_cache_in_girder(cli, girder_server, gc, slide_item,
                                                             sample_slide, tmp_path):
    """The same slide uploaded again under another name: its first click finds the cache the
    original's click left in Girder (same content), and embeds nothing."""
    import shutil

    from conftest import upload_slide

    first = _task(cli, girder_server, gc, sample_slide, slide_item, '--keypoints', KEYPOINT)
    assert first.returncode == 0, first.stderr
    copy = shutil.copy(sample_slide, tmp_path / 'renamed copy.svs')
    copy_item = upload_slide(gc, copy)
    second = _task(cli, girder_server, gc, copy, copy_item, '--keypoints', KEYPOINT)
    assert second.returncode == 0, second.stderr
    assert '0 embedded now' in second.stderr and 'girder:file/' in second.stderr
    assert len(_annotations(gc, copy_item['_id'])) == 1  # the map is posted on the copy


def test_wrong_token_fails_clearly_and_keeps_the_embeddings(cli, girder_server, gc, slide_item,
                                                            sample_slide, tmp_path):
    npz = tmp_path / 'e.npz'
    token = 'x' * 64
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                 girder_server['apiUrl'], '--girder-token', token, '--image-id',
                 slide_item['fileId'], '--output-embeddings', str(npz))
    assert result.returncode == 5
    assert 'rejected the token' in result.stderr
    assert 'Traceback' not in result.stderr
    assert token not in result.stdout + result.stderr
    assert store.load(str(npz)).embedded.any()


def test_unreachable_server_fails_clearly_and_keeps_the_embeddings(cli, sample_slide, tmp_path):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    npz = tmp_path / 'e.npz'
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                 'http://127.0.0.1:%d/api/v1' % port, '--girder-token', 'abc',
                 '--image-id', '0' * 24, '--output-embeddings', str(npz))
    assert result.returncode == 5
    error_lines = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(error_lines) == 1 and 'cannot reach Girder' in error_lines[0]
    assert store.load(str(npz)).embedded.any()


def test_missing_annotation_id_is_a_clear_error(cli, girder_server, gc, sample_slide):
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                 girder_server['apiUrl'], '--girder-token', gc.token, '--annotation-id',
                 'f' * 24)
    assert result.returncode == 5
    assert 'annotation %s does not exist' % ('f' * 24) in result.stderr


def test_folder_script_embeds_every_image(girder_server, gc, sample_slide, slide_40x):
    """examples/girder_folder.py on two uploaded images, with heatmaps."""
    from conftest import REPO, upload_slide

    first = upload_slide(gc, sample_slide)
    second = upload_slide(gc, slide_40x)
    assert first['folderId'] == second['folderId']
    env = dict(os.environ, GIRDER_TOKEN=gc.token)
    # on tissue in both: the sample's (1900, 1200) and, in the 40x copy, the sample's (950, 600)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'examples', 'girder_folder.py'), '--api-url',
         girder_server['apiUrl'], '--folder', first['folderId'], '--model', 'Test',
         '--keypoints', '1900,1200'], env=env, capture_output=True, text=True, timeout=600,
        check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith('[1/2]') and 'embed 100%' in line for line in lines)
    assert any(line.startswith('[2/2]') and line.endswith('done') for line in lines)
    assert lines[-1] == '2 of 2 images done'
    assert gc.token not in result.stdout + result.stderr
    for item in (first, second):
        annotations = _annotations(gc, item['_id'])
        assert len(annotations) == 1
        assert annotations[0]['annotation']['attributes']['EmbeddingSimilarity']['keypoints'] \
            == [[1900.0, 1200.0]]


def test_an_all_glass_heatmap_is_accepted(girder_server, gc, slide_item):
    """Nothing similar (every value 0) still makes a valid annotation, not a server error."""
    from EmbeddingSimilarity.girder.session import GirderSession
    from EmbeddingSimilarity.query.similarity import SimilarityMap
    from EmbeddingSimilarity.render.annotation import build_annotation
    from EmbeddingSimilarity.render.colours import parse_colour
    from EmbeddingSimilarity.slide.tiling import plan_grid

    grid = plan_grid(2220, 2967, 224, 224, 1.0)
    empty = np.full(grid.shape, np.nan, dtype=np.float32)
    result = SimilarityMap(empty, np.zeros(grid.shape, np.float32), [(0, 0)], [], 0.0,
                           'quantile', 1)
    annotation = build_annotation(grid, result, parse_colour('#00ff00'), 'empty',
                                  {'model': 'Test'})
    session = GirderSession(girder_server['apiUrl'], gc.token)
    annotation_id = session.create_annotation(slide_item['_id'], annotation)
    stored = gc.get('annotation/%s' % annotation_id)
    assert stored['annotation']['elements'][0]['values'] == [0.0] * (grid.rows * grid.cols)


def test_without_an_image_id_the_anot_output_carries_the_heatmap(cli, girder_server, gc,
                                                                  slide_item, sample_slide,
                                                                  tmp_path):
    """If DSA passes no image id, HistomicsUI still gets the heatmap by ingesting the .anot."""
    anot = tmp_path / 'h.anot'
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                 girder_server['apiUrl'], '--girder-token', gc.token, '--output-annotation',
                 str(anot))
    assert result.returncode == 0, result.stderr
    assert 'no image id' in result.stderr
    written = json.loads(anot.read_text())
    assert written['elements'][0]['type'] == 'griddata'
    assert _annotations(gc, slide_item['_id']) == []


def test_eight_runs_at_once_leave_one_heatmap_and_one_cache(girder_server, gc, slide_item,
                                                            sample_slide, tmp_path):
    """Eight first clicks on the same item at once (a user clicking fast, or several users):
    no run fails, one run embeds the slide while the others wait for its cache, and one
    heatmap annotation and one valid cache item (no claim) remain."""
    from conftest import REPO

    points = ['%d,%d' % (900 + 40 * i, 1400 + 60 * i) for i in range(8)]
    procs = [subprocess.Popen(
        [sys.executable, '-m', 'EmbeddingSimilarity', sample_slide, '--model', 'Test',
         '--keypoints', point, '--api-url', girder_server['apiUrl'], '--girder-token', gc.token,
         '--image-id', slide_item['fileId']], cwd=REPO, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True) for point in points]
    errors = [proc.communicate(timeout=600)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 8, errors
    embedded = [int(re.search(r'(\d+) embedded now', err).group(1)) for err in errors]
    assert sorted(embedded)[:-1] == [0] * 7 and embedded.count(0) == 7, errors
    assert sum('another job embedded this slide' in err for err in errors) == 7, errors
    mine = [a for a in _annotations(gc, slide_item['_id'])
            if 'EmbeddingSimilarity' in a['annotation'].get('attributes', {})]
    assert len(mine) == 1, [a['_id'] for a in mine]
    kept = gc.get('annotation/%s' % mine[0]['_id'])
    assert kept['annotation']['attributes']['EmbeddingSimilarity']['keypoints'][0] in [
        [float(v) for v in p.split(',')] for p in points]
    me = gc.get('user/me')
    private = gc.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                           'name': 'Private'})[0]
    folders = gc.get('folder', parameters={'parentType': 'folder', 'parentId': private['_id'],
                                           'name': 'EmbeddingSimilarity cache'})
    assert len(folders) == 1
    items = gc.get('item', parameters={'folderId': folders[0]['_id'], 'limit': 0})
    assert len(items) == 1, [item['name'] for item in items]
    assert items[0]['name'].endswith('.npz') and '(' not in items[0]['name']
    files = gc.get('item/%s/files' % items[0]['_id'])
    assert len(files) == 1
    path = str(tmp_path / 'cache.npz')
    gc.downloadFile(files[0]['_id'], path)
    data = store.load(path)
    assert data.complete and data.embedded.sum() > 0


def test_a_dsa_job_token_scoped_to_data_is_enough(cli, girder_server, gc, slide_item,
                                                  sample_slide):
    """A DSA job's token may only read and write data (girder_worker's default scope): the run
    still finds the user's cache folder and posts the heatmap."""
    import girder_client

    key = gc.post('api_key', parameters={
        'name': 'job', 'scope': json.dumps(['core.data.read', 'core.data.write'])})
    token = gc.post('api_key/token', parameters={'key': key['key']})['authToken']['token']
    assert gc.get('user/me', jsonResp=True) is not None
    scoped = girder_client.GirderClient(apiUrl=girder_server['apiUrl'])
    scoped.setToken(token)
    assert scoped.get('user/me') is None  # what broke the first version
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                 girder_server['apiUrl'] + '/', '--girder-token', token, '--image-id',
                 slide_item['fileId'])
    assert result.returncode == 0, result.stderr
    assert len(_annotations(gc, slide_item['_id'])) == 1


def _claim_item(gc, name: str, renewed: float) -> dict:
    """A claim another job left in the user's cache folder (``renewed``: its last renewal)."""
    me = gc.get('user/me')
    private = gc.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                           'name': 'Private'})[0]
    folder = gc.post('folder', parameters={'parentType': 'folder', 'parentId': private['_id'],
                                           'name': 'EmbeddingSimilarity cache',
                                           'reuseExisting': True})
    item = gc.post('item', parameters={'folderId': folder['_id'], 'name': name + '.claim'})
    gc.put('item/%s/metadata' % item['_id'], json={'claim': {'owner': 'other',
                                                             'renewed': renewed}})
    return item


def _claims(gc) -> list[str]:
    me = gc.get('user/me')
    cache = gc.get('resource/lookup', parameters={
        'path': '/user/%s/Private/EmbeddingSimilarity cache' % me['login']})
    return [i['name'] for i in gc.listItem(cache['_id']) if '.claim' in i['name']]


def test_a_click_waits_for_a_live_claim_and_takes_over_a_dead_one(girder_server, gc,
                                                                 slide_item, sample_slide):
    """Another job's claim on the embedding: while it is renewed, a click waits (showing it);
    once it is gone the click embeds. A claim nobody renewed for longer than the claim time
    (its job died) is taken over at once."""
    import time

    from conftest import REPO

    from EmbeddingSimilarity.girder.cache_folder import CLAIM_SECONDS
    from EmbeddingSimilarity.steps.plan import make_plan
    from EmbeddingSimilarity.steps.request import Request

    plan = make_plan(Request.of(sample_slide, model='Test'))
    name = plan.provenance.cache_name()  # the grid the CLI plans below
    live = _claim_item(gc, name, time.time())
    argv = [sys.executable, '-m', 'EmbeddingSimilarity', sample_slide, '--model', 'Test',
            '--keypoints', KEYPOINT, '--api-url', girder_server['apiUrl'], '--girder-token',
            gc.token, '--image-id', slide_item['fileId']]
    def claims_made() -> int:  # claim items created, from the server's access log
        with open(girder_server['log']) as log:
            return sum('POST /api/v1/item?' in line and '.claim' in line for line in log)

    before = claims_made()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(6)
    assert proc.poll() is None, proc.communicate()  # waiting, not embedding
    assert claims_made() - before == 1  # it tried once, then waits reading only
    gc.delete('item/%s' % live['_id'])  # the other job ended without a cache
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert 'another job is embedding this slide' in out + err
    assert int(re.search(r'(\d+) embedded now', err).group(1)) > 0
    assert _claims(gc) == []

    # a dead job's claim: not renewed for longer than the claim time
    gc.delete('item/%s' % gc.get('resource/lookup', parameters={
        'path': '/user/%s/Private/EmbeddingSimilarity cache/%s'
                % (gc.get('user/me')['login'], name)})['_id'])
    _claim_item(gc, name, time.time() - CLAIM_SECONDS - 60)
    again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300,
                           check=False)
    assert again.returncode == 0, again.stderr
    assert int(re.search(r'(\d+) embedded now', again.stderr).group(1)) > 0
    assert _claims(gc) == []
