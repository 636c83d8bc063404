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
                '.venv-ui (tox -e ui does this) or set UI_GIRDER_PYTHON')


@pytest.fixture(scope='module')
def histomicsui_server(tmp_path_factory):
    with running_girder(ui_python(), tmp_path_factory.mktemp('girder-ui'), PLUGINS) as info:
        yield info


def _screenshot(url: str, out: str) -> dict:
    result = subprocess.run(['node', os.path.join(UI, 'screenshot.js'), url, out], cwd=UI,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _yellow_pixels(path: str) -> int:
    rgb = np.asarray(Image.open(path).convert('RGB')).astype(int)
    return int(((rgb[..., 0] > 180) & (rgb[..., 1] > 170) & (rgb[..., 2] < 110)).sum())


def test_histomicsui_draws_the_posted_heatmap(histomicsui_server, sample_slide, tmp_path):
    import girder_client

    api = histomicsui_server['apiUrl']
    login = 'viewer%s' % os.urandom(3).hex()
    girder_client.GirderClient(apiUrl=api).post('user', parameters={
        'login': login, 'email': login + '@example.org', 'firstName': 'A', 'lastName': 'B',
        'password': 'password1'})
    client = girder_client.GirderClient(apiUrl=api)
    client.authenticate(login, 'password1')
    item = upload_slide(client, sample_slide)  # the user's Public folder: no login needed
    url = api.replace('/api/v1', '') + '/histomics#?image=%s' % item['_id']
    shots = os.environ.get('UI_SCREENSHOT_DIR') or str(tmp_path)
    os.makedirs(shots, exist_ok=True)
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
