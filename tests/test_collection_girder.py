"""CollectionSimilarity against the real Girder test server: a folder of uploaded slides (one
with its embeddings already cached in Girder, one not, one file that is no slide), heatmaps on
each slide with a match, updated in place by the next search, and a folder the user may not
read.
"""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys

import girder_client

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'CollectionSimilarity', 'CollectionSimilarity.py')
KEYPOINT = '1100,1500'


def _search(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, check=False)


def _upload(gc, folder_id: str, path: str) -> dict:
    uploaded = gc.uploadFileToFolder(folder_id, path)
    item = gc.getItem(uploaded['itemId'])
    if 'largeImage' not in item:
        with contextlib.suppress(girder_client.HttpError):  # not an image: a plain item
            gc.post('item/%s/tiles' % item['_id'], parameters={'fileId': uploaded['_id']})
    item['fileId'] = uploaded['_id']
    return item


def _archive(gc, sample_slide: str, slide_40x: str, tmp_path) -> tuple[dict, dict, dict]:
    me = gc.get('user/me')
    public = gc.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                          'name': 'Public'})[0]
    archive = gc.createFolder(public['_id'], 'Archive')
    more = gc.createFolder(archive['_id'], 'more')
    query = _upload(gc, archive['_id'], sample_slide)
    other = _upload(gc, more['_id'], slide_40x)
    junk = tmp_path / 'notes.dat'
    junk.write_text('not a slide')
    _upload(gc, archive['_id'], str(junk))
    return archive, query, other


def _heatmaps(gc, item_id: str) -> list[dict]:
    return [a for a in gc.get('annotation', parameters={'itemId': item_id, 'limit': 0})
            if a['annotation']['name'] == 'Collection similarity']


def test_a_girder_folder_search_posts_one_heatmap_per_slide_with_a_match(
        cli, girder_server, gc, sample_slide, slide_40x, tmp_path):
    archive, query, other = _archive(gc, sample_slide, slide_40x, tmp_path)
    api = girder_server['apiUrl']
    cached = cli(sample_slide, '--model', 'Test', '--api-url', api, '--girder-token', gc.token,
                 '--image-id', query['fileId'], '--keep-output-files', 'true',
                 '--output-embeddings', str(tmp_path / 'query.npz'))  # embeddings only: caches
    # the query slide's grid in Girder (a Girder run that asks nothing must say it keeps files)
    assert cached.returncode == 0, cached.stderr
    args = [sample_slide, '--keypoints', KEYPOINT, '--collection', archive['_id'], '--model',
            'Test', '--top-k', '40', '--api-url', api, '--girder-token', gc.token, '--image-id',
            query['_id'], '--output-results', str(tmp_path / 'r.csv'), '--output-gallery',
            str(tmp_path / 'g.png')]
    result = _search(*args)
    assert result.returncode == 0, result.stderr
    assert gc.token not in result.stdout + result.stderr
    assert 'notes.dat cannot be read' in result.stderr
    assert '2 of 3 slides searched (1 embedded now, 1 skipped)' in result.stderr
    with open(tmp_path / 'r.csv', newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40
    assert {r['item_id'] for r in rows} <= {query['_id'], other['_id']}
    assert {r['query'] for r in rows if r['item_id'] == query['_id']} == {'1'}
    assert {r['image'] for r in rows} <= {query['name'], other['name']}
    assert all(r['url'].startswith(api[:-len('/api/v1')] + '/histomics#?image=' + r['item_id']
                                   + '&bounds=') for r in rows)
    # the uncached slide's grid is now cached in Girder too
    cache = gc.get('resource/lookup', parameters={
        'path': '/user/%s/Private/EmbeddingSimilarity cache' % gc.get('user/me')['login']})
    assert len(list(gc.listItem(cache['_id']))) == 2
    hit_items = {r['item_id'] for r in rows}
    first = {}
    for item_id in hit_items:
        docs = _heatmaps(gc, item_id)
        assert len(docs) == 1
        attrs = docs[0]['annotation']['attributes']['CollectionSimilarity']
        assert attrs['scoreRange'] == [0.0, 1.0] and attrs['queryImage'] == query['_id']
        assert 'EmbeddingSimilarity' not in docs[0]['annotation']['attributes']
        first[item_id] = docs[0]['_id']
    # the next search from the same image and name updates them in place, with every cache
    again = _search(*args)
    assert again.returncode == 0, again.stderr
    assert '(0 embedded now, 1 skipped)' in again.stderr
    for item_id, annotation_id in first.items():
        assert [a['_id'] for a in _heatmaps(gc, item_id)] == [annotation_id]


def test_a_folder_the_user_cannot_read_is_one_line(girder_server, gc, sample_slide, tmp_path):
    stranger = girder_client.GirderClient(apiUrl=girder_server['apiUrl'])
    login = 'stranger%s' % os.urandom(3).hex()
    stranger.post('user', parameters={'login': login, 'email': login + '@example.org',
                                      'firstName': 'S', 'lastName': 'T',
                                      'password': 'password1'})
    stranger.authenticate(login, 'password1')
    private = stranger.get('folder', parameters={'parentType': 'user', 'parentId': stranger.get(
        'user/me')['_id'], 'name': 'Private'})[0]
    for folder, expected in ((private['_id'], 'the token lacks access'),
                             ('0123456789abcdef01234567', 'does not exist or you cannot read')):
        result = _search(sample_slide, '--keypoints', KEYPOINT, '--collection', folder,
                         '--model', 'Test', '--api-url', girder_server['apiUrl'],
                         '--girder-token', gc.token, '--output-results',
                         str(tmp_path / 'r.csv'))
        assert result.returncode == 5, result.stderr
        lines = [line for line in result.stderr.splitlines() if 'error' in line]
        assert len(lines) == 1 and expected in lines[0], result.stderr
        assert not (tmp_path / 'r.csv').exists()
