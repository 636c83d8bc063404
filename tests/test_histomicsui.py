"""End to end in a browser: HistomicsUI shows the heatmap this task posted.

A real Girder 3 server with HistomicsUI and a built web client (tests/ui/setup_env.sh) serves the
sample slide; the task runs against it with --api-url/--girder-token; headless chromium opens
``/histomics#?image=<item>`` before and after, and the heatmap's colour must appear. The
screenshots are kept in ``UI_SCREENSHOT_DIR`` (default: the test's temporary folder).
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from conftest import REPO, run_cli, running_girder, upload_slide
from PIL import Image

UI = os.path.join(REPO, 'tests', 'ui')
PLUGINS = 'jobs,large_image,large_image_annotation,slicer_cli_web,histomicsui'
KEYPOINT = '1000,1500'


def ui_python() -> str:
    for path in (os.environ.get('UI_GIRDER_PYTHON', ''),
                 os.path.join(REPO, '.tox', 'girder-ui', 'bin', 'python'),
                 os.path.join(REPO, '.venv-ui', 'bin', 'python')):
        if path and os.path.exists(path):
            return path
    pytest.fail('the HistomicsUI test environment is missing: run tests/ui/setup_env.sh '
                '.venv-ui (tox runs it into .tox/girder-ui before the tests) or set '
                'UI_GIRDER_PYTHON')


@pytest.fixture(scope='module')
def histomicsui_server(tmp_path_factory):
    with running_girder(ui_python(), tmp_path_factory.mktemp('girder-ui'), PLUGINS) as info:
        yield info


def _viewer(api: str, slide: str, tmp_path, prefix: str) -> tuple:
    """A new user with ``slide`` in their Public folder (no login needed to view it): the
    client, the item, its HistomicsUI address and the screenshot folder."""
    import girder_client

    login = prefix + os.urandom(4).hex()
    girder_client.GirderClient(apiUrl=api).post('user', parameters={
        'login': login, 'email': login + '@example.org', 'firstName': 'A', 'lastName': 'B',
        'password': 'password1'})
    client = girder_client.GirderClient(apiUrl=api)
    client.authenticate(login, 'password1')
    item = upload_slide(client, slide)
    url = api.replace('/api/v1', '') + '/histomics#?image=%s' % item['_id']
    shots = os.environ.get('UI_SCREENSHOT_DIR') or str(tmp_path)
    os.makedirs(shots, exist_ok=True)
    return client, item, url, shots


def _screenshot(url: str, out: str) -> dict:
    result = subprocess.run(['node', os.path.join(UI, 'screenshot.js'), url, out], cwd=UI,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _yellow_pixels(path: str) -> int:
    rgb = np.asarray(Image.open(path).convert('RGB')).astype(int)
    return int(((rgb[..., 0] > 180) & (rgb[..., 1] > 170) & (rgb[..., 2] < 110)).sum())


def test_histomicsui_draws_the_posted_heatmap(histomicsui_server, sample_slide, tmp_path):

    api = histomicsui_server['apiUrl']
    client, item, url, shots = _viewer(api, sample_slide, tmp_path, 'viewer')
    before = os.path.join(shots, 'histomicsui_before.png')
    after = os.path.join(shots, 'histomicsui_heatmap.png')

    seen = _screenshot(url, before)
    assert seen['annotationRequests'] == []
    result = run_cli(sample_slide, '--model', 'efficientnet-lite0', '--keypoints', KEYPOINT,
                     '--api-url', api, '--girder-token', client.token, '--image-id',
                     item['fileId'], '--color', '#ffff00')
    assert result.returncode == 0, result.stderr
    annotation_id = client.get('annotation', parameters={'itemId': item['_id']})[0]['_id']
    seen = _screenshot(url, after)
    assert any(annotation_id in request for request in seen['annotationRequests']), seen
    assert not [e for e in seen['errors'] if 'annotation' in e.lower()], seen['errors']
    gained = _yellow_pixels(after) - _yellow_pixels(before)
    assert gained > 2000, 'the heatmap colour did not appear (%d pixels)' % gained


def _changed_pixels(before: str, after: str) -> np.ndarray:
    """Pixels whose colour changed by more than 40 (sum over RGB) between two screenshots."""
    a = np.asarray(Image.open(before).convert('RGB')).astype(int)
    b = np.asarray(Image.open(after).convert('RGB')).astype(int)
    return np.abs(a - b).sum(axis=2) > 40


def _hue_share(path: str, mask: np.ndarray) -> dict[str, float]:
    """Share of the changed pixels that lean blue, green or orange/yellow."""
    rgb = np.asarray(Image.open(path).convert('RGB')).astype(int)[mask]
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    total = max(len(rgb), 1)
    return {'blue': float(((b > r + 30) & (b > g - 10)).sum() / total),
            'green': float(((g > r + 20) & (g > b)).sum() / total),
            'warm': float(((r > b + 60) & (g > b + 20)).sum() / total)}


def test_histomicsui_draws_the_cluster_map_and_a_viridis_choropleth(histomicsui_server,
                                                                   sample_slide, tmp_path):
    """Both annotations are posted as the new CLI will post them; HistomicsUI must draw them."""

    from EmbeddingSimilarity.query.clusters import cluster_grid
    from EmbeddingSimilarity.query.similarity import compute
    from EmbeddingSimilarity.render.annotation import build_annotation, build_cluster_annotation
    from EmbeddingSimilarity.render.colours import cluster_colours, parse_colormap
    from EmbeddingSimilarity.steps.embed import compute_embeddings
    from EmbeddingSimilarity.steps.request import Request

    api = histomicsui_server['apiUrl']
    client, item, url, shots = _viewer(api, sample_slide, tmp_path, 'mapper')
    before = os.path.join(shots, 'histomicsui_before_maps.png')
    _screenshot(url, before)

    data = compute_embeddings(Request.of(image=sample_slide, model='efficientnet-lite0')).data
    grid = data.grid
    valid = data.embedded & (data.tissue_fraction >= 0.1)
    clusters = cluster_grid(data.embeddings, valid, 4, seed=0, norms=data.norms)
    cluster_doc = build_cluster_annotation(grid, clusters.labels, cluster_colours(4),
                                           'Embedding clusters', {'model': data.meta['model']
                                                                  ['name'], 'k': 4})
    posted = client.post('annotation', parameters={'itemId': item['_id']}, json=cluster_doc)
    after = os.path.join(shots, 'histomicsui_clusters.png')
    seen = _screenshot(url, after)
    assert any(posted['_id'] in request for request in seen['annotationRequests']), seen
    assert not [e for e in seen['errors'] if 'annotation' in e.lower()], seen['errors']
    changed = _changed_pixels(before, after)
    hues = _hue_share(after, changed)
    assert changed.sum() > 20000, 'the cluster map did not appear (%d pixels)' % changed.sum()
    # orange (cluster 0) and sky blue (cluster 1), the two largest clusters, are both visible
    assert hues['warm'] > 0.1 and hues['blue'] > 0.1, hues
    client.delete('annotation/%s' % posted['_id'])

    similarity = compute(data.embeddings, valid, grid, [tuple(map(float, KEYPOINT.split(',')))],
                         norms=data.norms, scaling='quantile')
    heat_doc = build_annotation(grid, similarity, (255, 255, 0), 'viridis choropleth',
                                {'model': data.meta['model']['name']},
                                colormap=parse_colormap('viridis'), display='choropleth')
    posted = client.post('annotation', parameters={'itemId': item['_id']}, json=heat_doc)
    after = os.path.join(shots, 'histomicsui_viridis_choropleth.png')
    seen = _screenshot(url, after)
    assert any(posted['_id'] in request for request in seen['annotationRequests']), seen
    changed = _changed_pixels(before, after)
    hues = _hue_share(after, changed)
    assert changed.sum() > 20000, 'the choropleth did not appear (%d pixels)' % changed.sum()
    # viridis: blue-violet low, green-yellow high; both ends are on the slide
    assert hues['blue'] > 0.1 and hues['green'] > 0.1, hues
    client.delete('annotation/%s' % posted['_id'])

    contour_doc = build_annotation(grid, similarity, (255, 255, 0), 'magma contour',
                                   {'model': data.meta['model']['name']},
                                   colormap=parse_colormap('magma'), display='contour')
    posted = client.post('annotation', parameters={'itemId': item['_id']}, json=contour_doc)
    after = os.path.join(shots, 'histomicsui_contour.png')
    seen = _screenshot(url, after)
    assert any(posted['_id'] in request for request in seen['annotationRequests']), seen
    assert not [e for e in seen['errors'] if 'annotation' in e.lower()], seen['errors']
    assert _changed_pixels(before, after).sum() > 5000, 'the contour lines did not appear'


def _cyan_pixels(path: str) -> int:
    rgb = np.asarray(Image.open(path).convert('RGB')).astype(int)
    return int(((rgb[..., 0] < 90) & (rgb[..., 1] > 180) & (rgb[..., 2] > 180)).sum())


def test_histomicsui_draws_the_hit_polygons(histomicsui_server, sample_slide, tmp_path):
    """The hit polygons of a region query ("like this epidermis, not that dermis"), written by
    --output-hits and posted as HistomicsUI's upload of that output would be, are drawn: their
    cyan outlines appear. Screenshot: ``histomicsui_hits.png``."""

    hits = tmp_path / 'hits.anot'
    result = run_cli(sample_slide, '--model', 'Test', '--keypoints',
                     '1020,1410,1260,1410,1320,1950,1080,1980,-1,-1,1470,2640,270,240',
                     '--negative-keypoints', '600,2100,240,360', '--scorer', 'linear',
                     '--output-hits', str(hits), '--output-dir', str(tmp_path / 'out'))
    assert result.returncode == 0, result.stderr
    doc = json.loads(hits.read_text())
    assert doc['elements']
    api = histomicsui_server['apiUrl']
    client, item, url, shots = _viewer(api, sample_slide, tmp_path, 'hits')
    before = os.path.join(shots, 'histomicsui_before_hits.png')
    after = os.path.join(shots, 'histomicsui_hits.png')
    _screenshot(url, before)
    posted = client.post('annotation', parameters={'itemId': item['_id']}, json=doc)
    seen = _screenshot(url, after)
    assert any(posted['_id'] in request for request in seen['annotationRequests']), seen
    assert not [e for e in seen['errors'] if 'annotation' in e.lower()], seen['errors']
    gained = _cyan_pixels(after) - _cyan_pixels(before)
    assert gained > 500, 'the hit outlines did not appear (%d cyan pixels)' % gained
