"""The Analyses menu end to end, as a pathologist runs it (issue 15).

A real Girder 3 + HistomicsUI server registers this task's CLIs from ``docker-entrypoint.sh``
(``--list_cli`` and each ``<cli> --xml``), the way ``PUT /slicer_cli_web/docker_image`` stores an
image. Headless chromium, logged in, opens the slide, picks *Analyses -> EmbeddingSimilarity*,
presses the point button and clicks the tissue; HistomicsUI submits (``autosubmit``) and Slicer
CLI Web schedules the job for girder_worker. tests/ui/job_runner.py then runs that job's message
as the worker would (no docker). Screenshots go to ``UI_SCREENSHOT_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from xml.etree import ElementTree

import numpy as np
import pytest
from conftest import REPO, running_girder, upload_slide
from PIL import Image
from test_histomicsui import PLUGINS, ui_python
from test_panel import FIRST_SCREEN_MOST, first_screen
from tiny_clip import CLIP_REPO as TEXT_MODEL

from EmbeddingSimilarity import HITS_TOOL_ATTRIBUTE, TOOL_ATTRIBUTE

UI = os.path.join(REPO, 'tests', 'ui')
IMAGE = 'embeddingsimilarity:test'  # the task image's name as an administrator would give it
ENTRYPOINT = ['env', 'PYTHON=' + sys.executable, 'PYTHONPATH=' + REPO, 'bash',
              os.path.join(REPO, 'docker-entrypoint.sh')]  # what `docker run IMAGE` runs
# DSA jobs get a token scoped to data read/write only (girder_worker's GirderClientTransform):
# the server runs with that default, so the test sees what a real DSA job gets
TISSUE, TISSUE_2 = (1000, 1500), (1400, 1000)
BESIDE = (-250, 1500)  # a click on the white beside the slide, outside the image


def listed_clis() -> dict:
    out = subprocess.run(ENTRYPOINT + ['--list_cli'], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def cli_xml(name: str) -> ElementTree.Element:
    out = subprocess.run(ENTRYPOINT + [name, '--xml'], capture_output=True, text=True, check=True)
    return ElementTree.fromstring(out.stdout)


def _simple_output(param: ElementTree.Element) -> bool:
    """A value the CLI reports (Slicer's return parameters), not a file it writes."""
    return (param.findtext('channel') == 'output'
            and param.tag not in ('file', 'image', 'directory', 'table'))


def image_parameters(xml: ElementTree.Element) -> list[str]:
    """The panel's image parameters: HistomicsUI fills each with the open slide."""
    return [image.findtext('name') for image in xml.iter('image')]


@pytest.fixture(scope='module')
def analyses_server(tmp_path_factory):
    work = tmp_path_factory.mktemp('girder-analyses')
    queue = work / 'queue'
    extra = ('--slicer-cli', '%s=%s' % (IMAGE, ' '.join(ENTRYPOINT)), '--worker-queue', str(queue))
    with running_girder(ui_python(), work, PLUGINS, extra) as info:
        info['queue'] = str(queue)
        yield info


@pytest.fixture
def pathologist(analyses_server):
    import girder_client

    api = analyses_server['apiUrl']
    login = 'path%s' % os.urandom(3).hex()
    girder_client.GirderClient(apiUrl=api).post('user', parameters={
        'login': login, 'email': login + '@example.org', 'firstName': 'A', 'lastName': 'B',
        'password': 'password1'})
    client = girder_client.GirderClient(apiUrl=api)
    client.authenticate(login, 'password1')
    return client


def screenshot_dir(tmp_path) -> str:
    shots = os.environ.get('UI_SCREENSHOT_DIR') or str(tmp_path)
    os.makedirs(shots, exist_ok=True)
    return shots


def run_job(server: dict, workdir: str, env: dict | None = None) -> dict:
    """Run the job Slicer CLI Web queued, as girder_worker would (tests/ui/job_runner.py)."""
    result = subprocess.run([ui_python(), os.path.join(UI, 'job_runner.py'), server['queue'],
                             workdir, *ENTRYPOINT], capture_output=True, text=True, timeout=600,
                            check=False, env=dict(os.environ, **(env or {})))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


class Browser:
    """tests/ui/analyses.js: JSON events on its stdout, one stdin line per job run."""

    def __init__(self, config: dict, tmp_path) -> None:
        path = tmp_path / 'analyses.json'
        path.write_text(json.dumps(config))
        self.log = tmp_path / 'browser.log'  # a file, so chatter cannot fill a pipe
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(['node', os.path.join(UI, 'analyses.js'), str(path)],
                                         cwd=UI, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, text=True)

    def next(self, event: str) -> dict:
        for line in self.proc.stdout:
            if line.startswith('{'):
                message = json.loads(line)
                if message['event'] == event:
                    return message
        self.proc.wait(timeout=30)
        raise AssertionError('the browser script ended before %r: %s'
                             % (event, self.log.read_text()[-3000:]))

    def resume(self, annotations: list[str] = ()) -> None:
        """The job has run: the browser waits until it has fetched ``annotations`` (ids the
        job posted) and the page has settled, then takes its screenshot."""
        self.proc.stdin.write(json.dumps(list(annotations)) + '\n')
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def yellow_pixels(path: str) -> int:
    rgb = np.asarray(Image.open(path).convert('RGB')).astype(int)
    return int(((rgb[..., 0] > 180) & (rgb[..., 1] > 170) & (rgb[..., 2] < 110)).sum())


def heatmaps(client, item_id: str, hits: bool = False) -> list[dict]:
    """The item's similarity heatmaps (or, with ``hits``, the hit polygons posted with them)."""
    key = HITS_TOOL_ATTRIBUTE if hits else TOOL_ATTRIBUTE
    return [a for a in client.get('annotation', parameters={'itemId': item_id, 'limit': 0})
            if key in (a['annotation'].get('attributes') or {})]


def keypoint(argv: list[str]) -> tuple[float, float]:
    x, y = argv[argv.index('--keypoints') + 1].split(',')[:2]
    return float(x), float(y)


def test_every_listed_cli_is_registered(analyses_server, pathologist):
    registered = {cli['name']: cli for cli in pathologist.get('slicer_cli_web/cli')}
    listed = listed_clis()
    assert set(registered) == set(listed)
    for name in listed:
        assert registered[name]['image'] == IMAGE
        xml = subprocess.run(ENTRYPOINT + [name, '--xml'], capture_output=True, text=True,
                             check=True).stdout
        stored = pathologist.sendRestRequest('GET', 'slicer_cli_web/cli/%s/xml'
                                             % registered[name]['_id'], jsonResp=False)
        assert stored.text == xml
    menu = pathologist.get('slicer_cli_web/docker_image')
    image, tag = IMAGE.split(':')
    assert set(menu[image][tag]) == set(listed)


def test_every_listed_cli_opens_its_panel(analyses_server, pathologist, sample_slide, tmp_path):
    item = upload_slide(pathologist, sample_slide)
    xmls = {name: cli_xml(name) for name in listed_clis()}
    image, _tag = IMAGE.split(':')
    config = {'url': analyses_server['apiUrl'].replace('/api/v1', '') +
              '/histomics#?image=%s' % item['_id'],
              'login': pathologist.get('user/me')['login'], 'password': 'password1',
              'image': image, 'panels': sorted(xmls), 'shots': screenshot_dir(tmp_path),
              'imageParams': {name: image_parameters(xml) for name, xml in xmls.items()}}
    browser = Browser(config, tmp_path)
    try:
        for name in sorted(xmls):
            panel = browser.next('panel')
            assert panel['cli'] == name
            assert panel['title'] == xmls[name].findtext('title').strip()
            # a group of simple outputs only (values the job reports) is shown under
            # "Parameter outputs"; every other group keeps its label
            labels = [group.findtext('label') for group in xmls[name].iter('parameters')
                      if not all(_simple_output(p) for p in group if p.find('name') is not None)]
            assert [label for label in labels if label not in panel['groups']] == [], panel
            if len(labels) < len(list(xmls[name].iter('parameters'))):
                assert 'Parameter outputs' in panel['groups'], panel
            for param in image_parameters(xmls[name]):
                assert panel['values'][param] == os.path.basename(sample_slide), panel
            # the first screen, as HistomicsUI draws it: only the open groups' fields
            assert 'model' in panel['shown'], panel['shown']
            assert len(panel['shown']) <= FIRST_SCREEN_MOST[name], panel['shown']
            # slicer_cli_web adds the open 'Parameter outputs' group (returnparameterfile) for
            # the values a job reports
            assert set(panel['shown']) <= {p.findtext('name') for p in first_screen(name)} | {
                'returnparameterfile'}, panel['shown']
        assert not browser.next('done')['errors']
    finally:
        browser.close()


def test_two_clicks_and_a_bad_click_through_the_analyses_menu(analyses_server, pathologist,
                                                        sample_slide, tmp_path):
    client = pathologist
    api = analyses_server['apiUrl']
    item = upload_slide(client, sample_slide)
    shots = screenshot_dir(tmp_path)
    image, tag = IMAGE.split(':')
    points = {'click1': TISSUE, 'click2': TISSUE_2, 'beside': BESIDE}
    clicks = [{'x': x, 'y': y, 'name': name} for name, (x, y) in points.items()]
    config = {'url': api.replace('/api/v1', '') + '/histomics#?image=%s' % item['_id'],
              'login': client.get('user/me')['login'], 'password': 'password1',
              'image': image, 'cli': 'EmbeddingSimilarity', 'shots': shots, 'clicks': clicks,
              'imageParams': {'EmbeddingSimilarity': ['inputImageFile', 'inputImageId']}}
    browser = Browser(config, tmp_path)
    try:
        panel = browser.next('panel')
        for group in ('What to look for', 'Files to keep (optional)', 'For developers'):
            assert group in panel['groups'], panel
        # HistomicsUI fills every image parameter with the open slide's file
        assert panel['values']['inputImageFile'] == panel['values']['inputImageId'] != ''
        before = yellow_pixels(os.path.join(shots, 'analyses_page.png'))

        submiton = browser.next('submiton')
        # 'Submit job when region is set' is on from the start (autosubmit): the user
        # never opens the drop-down to switch it on
        assert submiton['atStart'] and submiton['now'], submiton
        outcomes, record = [], []
        for index, (x, y) in enumerate((TISSUE, TISSUE_2, BESIDE)):
            submitted = browser.next('submitted')
            assert submitted['status'] == 200, submitted
            params = submitted['params']
            assert params['inputImageFile'] == params['inputImageId'] == item['fileId']
            report = run_job(analyses_server, str(tmp_path / ('job%d' % index)))
            assert report['jobId'] == submitted['job']['_id']
            argv = report['argv']
            assert argv[0] == 'EmbeddingSimilarity'
            assert argv[argv.index('--image-id') + 1] == item['fileId']
            assert argv[argv.index('--api-url') + 1].rstrip('/') == api
            assert argv[argv.index('--girder-token') + 1] == '<token>'
            assert argv[-1].endswith(os.sep + 'cmu_small_region.svs')
            clicked = keypoint(argv)
            assert abs(clicked[0] - x) < 30 and abs(clicked[1] - y) < 30, (clicked, x, y)
            browser.resume([h['_id'] for h in heatmaps(client, item['_id'])]
                           if report['returncode'] == 0 else [])
            shot = browser.next('shot')
            job = client.get('job/%s' % report['jobId'])
            outcomes.append((report, job, shot, heatmaps(client, item['_id'])))
            record.append({'click': submitted['name'], 'toolWasArmed': submitted['armed'],
                           'submitted': params, 'argv': argv, 'status': job['status']})
        # HistomicsUI names every output file of the panel in Private, but the job writes
        # none of the copies of what Girder holds: three clicks leave only the parameter files
        assert all(r['submitted'].get('outputEmbeddingFile') for r in record), record
        kept = [i['name'] for i in client.get('item', parameters={
            'folderId': private_folder(client), 'limit': 0})]
        assert kept and all(name.startswith('Embedding Similarity-returnparameterfile')
                            for name in kept), kept
        with open(os.path.join(shots, 'analyses_jobs.json'), 'w') as handle:
            json.dump({'submiton': submiton, 'jobs': record}, handle, indent=1)

        (first, job1, shot1, maps1), (second, job2, shot2, maps2), (beside, job3, _, maps3) = \
            outcomes
        # first click: the job succeeds, logs our stages, and the heatmap is drawn
        assert job1['status'] == 3, ''.join(job1.get('log', []))[-3000:]
        assert job1['progress']['current'] == job1['progress']['total']
        log1 = ''.join(job1['log'])
        assert 'embedding' in log1, log1
        assert len(maps1) == 1
        gained = yellow_pixels(os.path.join(shots, 'analyses_click1.png')) - before
        assert gained > 2000, 'the heatmap did not appear (%d yellow pixels)' % gained
        assert any(maps1[0]['_id'] in url for url in shot1['annotationRequests'])
        # second click: the same annotation, updated in place, from the cached embeddings
        assert job2['status'] == 3, ''.join(job2.get('log', []))[-3000:]
        assert [a['_id'] for a in maps2] == [maps1[0]['_id']]
        assert maps2[0]['_version'] > maps1[0]['_version']
        assert len(heatmaps(client, item['_id'], hits=True)) == 1  # its hit polygons, in place
        # a key point beside the slide: the job errors with our one-line message; nothing changes
        assert beside['returncode'] == 2 and job3['status'] == 4
        log3 = ''.join(job3['log'])
        assert 'EmbeddingSimilarity: error: key point' in log3, log3[-3000:]
        assert 'is outside the image' in log3, log3[-3000:]
        assert 'Traceback' not in log3
        assert [(a['_id'], a['_version']) for a in maps3] == \
            [(maps2[0]['_id'], maps2[0]['_version'])]
        done = browser.next('done')
        assert not [e for e in done['errors'] if 'annotation' in e.lower()], done['errors']
    finally:
        browser.close()


def test_text_query_typed_into_the_panel(analyses_server, pathologist, sample_slide, clip_hub,
                                         tmp_path):
    """A pathologist types prompts into Text Queries, picks a CLIP model and presses Submit:
    no click; the job posts a heatmap that names the prompts and HistomicsUI draws it."""
    client = pathologist
    item = upload_slide(client, sample_slide)
    shots = screenshot_dir(tmp_path)
    image, _tag = IMAGE.split(':')
    prompts = 'tumour nests; necrosis'
    config = {'url': analyses_server['apiUrl'].replace('/api/v1', '') +
              '/histomics#?image=%s' % item['_id'],
              'login': client.get('user/me')['login'], 'password': 'password1',
              'image': image, 'cli': 'EmbeddingSimilarity', 'shots': shots,
              'imageParams': {'EmbeddingSimilarity': ['inputImageFile', 'inputImageId']},
              'fill': {'textQueries': prompts, 'customModel': 'hf:' + TEXT_MODEL}}
    browser = Browser(config, tmp_path)
    try:
        browser.next('panel')
        before = yellow_pixels(os.path.join(shots, 'analyses_page.png'))
        submitted = browser.next('submitted')
        assert submitted['status'] == 200, submitted
        assert submitted['params']['textQueries'] == prompts, submitted['params']
        # no shape drawn: the region parameter keeps its empty value
        assert submitted['params'].get('keypoints', '[-1,-1]') == '[-1,-1]', submitted['params']
        report = run_job(analyses_server, str(tmp_path / 'job'), env=clip_hub)
        argv = report['argv']
        assert argv[argv.index('--text-queries') + 1] == prompts
        browser.resume([h['_id'] for h in heatmaps(client, item['_id'])])
        shot = browser.next('shot')
        job = client.get('job/%s' % report['jobId'])
        assert job['status'] == 3, ''.join(job.get('log', []))[-3000:]
        posted, = heatmaps(client, item['_id'])
        assert "'tumour nests; necrosis'" in posted['annotation']['description'], posted
        tool = posted['annotation']['attributes'][TOOL_ATTRIBUTE]
        assert tool['textQueries'] == prompts
        assert any(posted['_id'] in url for url in shot['annotationRequests'])
        gained = yellow_pixels(os.path.join(shots, 'analyses_text.png')) - before
        assert gained > 1000, 'the heatmap did not appear (%d yellow pixels)' % gained
        assert not browser.next('done')['errors']
    finally:
        browser.close()


def private_folder(client) -> str:
    me = client.get('user/me')
    return client.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                            'name': 'Private'})[0]['_id']


def submit_as_histomicsui(client, item: dict, **changes: str) -> dict:
    """POST the run endpoint with what HistomicsUI sends for a point click (no browser)."""
    cli = next(c for c in client.get('slicer_cli_web/cli') if c['name'] == 'EmbeddingSimilarity')
    private = private_folder(client)
    params = {'inputImageFile': item['fileId'], 'inputImageId': item['fileId'],
              'keypoints': json.dumps(list(TISSUE)), 'girderApiUrl': '', 'girderToken': ''}
    for name, ext in (('outputEmbeddingFile', '.npz'), ('outputAnnotationFile', '.anot'),
                      ('outputOverlayFile', '.png')):
        params[name] = 'Embedding Similarity-%s%s' % (name, ext)
        params[name + '_folder'] = private
    params.update(changes)
    return client.post('slicer_cli_web/cli/%s/run' % cli['_id'], parameters=params)


def cache_files(client) -> list[dict]:
    me = client.get('user/me')
    found = []
    for folder in client.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                                   'limit': 0}):
        for sub in client.get('folder', parameters={'parentType': 'folder',
                                                    'parentId': folder['_id'], 'limit': 0}):
            for item in client.get('item', parameters={'folderId': sub['_id'], 'limit': 0}):
                found.extend(client.get('item/%s/files' % item['_id']))
    return found


def test_cancel_stops_the_job_and_the_next_job_resumes(analyses_server, pathologist,
                                                         sample_slide, tmp_path):
    client = pathologist
    item = upload_slide(client, sample_slide)
    slow = {'stride': '112', 'batchSize': '4', 'checkpointSeconds': '0'}  # 4x the tiles
    job = submit_as_histomicsui(client, item, **slow)
    runner = subprocess.Popen([ui_python(), os.path.join(UI, 'job_runner.py'),
                               analyses_server['queue'], str(tmp_path / 'job0'), *ENTRYPOINT],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while True:  # cancel once the embedding has started, as a user pressing Cancel
            progress = client.get('job/%s' % job['_id']).get('progress') or {}
            if 'embedding' in progress.get('message', '') and 0 < progress['current'] < 1:
                break
            assert runner.poll() is None and time.monotonic() < deadline, runner.stderr.read()
            time.sleep(0.2)
        client.put('job/%s/cancel' % job['_id'])
        out, err = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
    report = json.loads(out.strip().splitlines()[-1])
    cancelled = client.get('job/%s' % job['_id'])
    assert cancelled['status'] == 5, (report, err[-2000:])  # CANCELED
    log = ''.join(cancelled['log'])
    # docker stop's SIGTERM reaches our CLI (the entrypoint execs it): a clean exit 130 whose one
    # line says what was kept, no traceback; a heatmap left in Girder is a marked preview
    assert report['returncode'] == 130, log[-3000:]
    assert 'interrupted;' in log and 'kept in' in log and 'Girder cache' in log, log[-3000:]
    assert 'Traceback' not in log
    for heatmap in heatmaps(client, item['_id']):
        assert heatmap['annotation']['description'].startswith('Preview: '), heatmap
    kept = [f for f in cache_files(client) if f['name'].endswith('.npz')]
    assert len(kept) == 1, kept  # the finished cells, marked incomplete, for the next job

    job = submit_as_histomicsui(client, item, **slow)  # the next click, same grid: it resumes
    report = run_job(analyses_server, str(tmp_path / 'job1'))
    done = client.get('job/%s' % job['_id'])
    log = ''.join(done['log'])
    assert report['returncode'] == 0 and done['status'] == 3, log[-3000:]
    assert 'reusing' in log and 'girder:file/' in log, log[-3000:]
    final, = heatmaps(client, item['_id'])  # the preview, if any, was replaced in place
    assert not final['annotation']['description'].startswith('Preview'), final
    cached = [f for f in cache_files(client) if f['name'].endswith('.npz')]
    assert len(cached) == 1, 'the finished job left %d caches in Girder' % len(cached)
