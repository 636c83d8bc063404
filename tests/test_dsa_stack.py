"""The task inside the real DSA stack: the image registered by Slicer CLI Web's own docker code and
its jobs run in containers by girder_worker's own Celery worker and docker plugin.

* podman serves the Docker API (``podman system service``); a tee socket in front of it
  (tests/ui/docker_tee.py) keeps every request, so the tests read what girder_worker asked for
  in each ``POST /containers/create``;
* ``PUT /slicer_cli_web/docker_image`` makes Slicer CLI Web inspect the image and run
  ``--list_cli`` and each ``--xml`` in containers (slicer_cli_web/image_job.py);
* a click submitted as HistomicsUI submits it is queued by Slicer CLI Web, consumed by
  girder_worker 0.10 (tests/ui/worker.py), run with ``docker run`` of the image, the slide
  downloaded into the job's temporary volume (mounted at ``/mnt/girder_worker/<id>``), progress
  and log sent to the job, the heatmap posted by the task itself.

The stack itself (and the shims this machine needs) is :mod:`dsa_stack`.
"""

from __future__ import annotations

import json
import os
import re

import dsa_stack
import pytest
from conftest import upload_slide
from dsa_stack import IMAGE
from test_analyses_menu import heatmaps, submit_as_histomicsui
from test_container import image  # noqa: F401 - the image fixture

JOB_SUCCESS, JOB_ERROR = dsa_stack.JOB_SUCCESS, dsa_stack.JOB_ERROR
STOP = re.compile(rb'POST /[^ ]*/containers/[^/ ]+/stop[ ?]')  # girder_worker's docker stop


@pytest.fixture(scope='module')
def docker_host(image, tmp_path_factory):  # noqa: F811 - the image fixture, imported
    """podman's Docker API behind a tee socket; the requests it carried go to ``log``."""
    with dsa_stack.docker_api(tmp_path_factory.mktemp('docker')) as host:
        yield host


def _wait_job(client, job_id: str, seconds: float = 600, worker: dict | None = None) -> dict:
    return dsa_stack.wait_job(client, job_id, seconds, worker)


@pytest.fixture(scope='module')
def dsa(docker_host, tmp_path_factory):
    """A Girder with HistomicsUI whose Slicer CLI Web talks to podman, the image registered the
    real way, and girder_worker's Celery worker consuming its queue."""
    with dsa_stack.dsa_server(tmp_path_factory.mktemp('dsa'), docker_host) as info:
        yield info


@pytest.fixture
def pathologist(dsa):
    import girder_client

    login = 'path%s' % os.urandom(3).hex()
    girder_client.GirderClient(apiUrl=dsa['apiUrl']).post('user', parameters={
        'login': login, 'email': login + '@example.org', 'firstName': 'A', 'lastName': 'B',
        'password': 'password1'})
    client = girder_client.GirderClient(apiUrl=dsa['apiUrl'])
    client.authenticate(login, 'password1')
    return client


def _creates(log) -> list[dict]:
    """The JSON bodies of every ``POST /containers/create`` the tee socket carried."""
    data = log.read_bytes().decode('utf-8', 'replace')
    bodies = []
    for match in re.finditer(r'POST /[^ ]*containers/create[^ ]* HTTP/1\.1\r\n(.*?)\r\n\r\n',
                             data, re.S):
        length = int(re.search(r'Content-Length: (\d+)', match.group(1), re.I).group(1))
        start = match.end()
        bodies.append(json.loads(data[start:start + length]))
    return bodies


def test_slicer_cli_web_registers_the_image_through_docker(dsa, pathologist, docker_host):
    job = dsa['registration']
    log = ''.join(job.get('log') or [])
    assert job['status'] == JOB_SUCCESS, log[-3000:]
    registered = {cli['name']: cli for cli in pathologist.get('slicer_cli_web/cli')}
    assert set(registered) == {'EmbeddingSimilarity', 'EmbeddingClusters',
                               'CollectionSimilarity'}
    for name, cli in registered.items():
        assert cli['image'] == IMAGE
        assert 'Got image %s, cli %s metadata' % (IMAGE, name) in log, log[-3000:]
        xml = pathologist.sendRestRequest('GET', 'slicer_cli_web/cli/%s/xml' % cli['_id'],
                                          jsonResp=False).text
        assert '<title>' in xml and 'keypoints' in xml or name == 'EmbeddingClusters'
    # Slicer CLI Web ran --list_cli and one --xml per CLI in containers of the image
    commands = [body.get('Cmd') for body in _creates(docker_host['log'])
                if body.get('Image') == IMAGE]
    assert ['--list_cli'] in commands, commands
    for name in registered:
        assert [name, '--xml'] in commands, commands


def test_a_click_runs_in_a_container_through_girder_worker(dsa, pathologist, docker_host,
                                                            sample_slide):
    client = pathologist
    item = upload_slide(client, sample_slide)
    before = len(_creates(docker_host['log']))
    first = _wait_job(client, submit_as_histomicsui(client, item)['_id'], worker=dsa)
    log = ''.join(first.get('log') or [])
    assert first['status'] == JOB_SUCCESS, log[-3000:] + dsa['worker_log'].read_text()[-3000:]
    assert 'embedding' in log and 'Traceback' not in log, log[-3000:]
    heatmap, = heatmaps(client, item['_id'])
    assert len(heatmaps(client, item['_id'], hits=True)) == 1
    # what girder_worker asked podman for: our image, the job's volume at its container path,
    # the slide inside it, and a GPU (the image's com.nvidia.volumes.needed label)
    # (Slicer CLI Web runs the image by the digest it registered)
    create, = [body for body in _creates(docker_host['log'])[before:]
               if body['Cmd'][0] == 'EmbeddingSimilarity']
    assert create['Image'].startswith('localhost/embedding-similarity@sha256:'), create['Image']
    args = create['Cmd']
    assert '--girder-token' in args and '--image-id' in args
    host, inside, mode = next(bind for bind in create['HostConfig']['Binds']
                              if '/mnt/girder_worker/' in bind).split(':')
    assert inside.startswith('/mnt/girder_worker/') and host != inside and mode == 'rw'
    assert args[-1].startswith(inside + '/') and args[-1].endswith('.svs'), args
    requests = create['HostConfig'].get('DeviceRequests') or []
    assert any(['gpu'] in request.get('Capabilities', []) for request in requests), create
    # what the admin set in GIRDER_WORKER_DOCKER_RUN_OPTIONS, as the README says
    assert create['HostConfig'].get('NetworkMode') == 'host'
    assert any(bind.endswith(':/opt/hf:ro') for bind in create['HostConfig']['Binds'])
    assert 'HF_HUB_OFFLINE=1' in (create.get('Env') or []), create  # the image sets HF_HOME

    # the second click: the same annotation updated in place, from the cache in Girder
    second = _wait_job(client, submit_as_histomicsui(client, item, keypoints='[1500, 900]')[
        '_id'], worker=dsa)
    log2 = ''.join(second.get('log') or [])
    assert second['status'] == JOB_SUCCESS, log2[-3000:]
    assert '0 embedded now' in log2 and 'girder:file/' in log2, log2[-3000:]
    again, = heatmaps(client, item['_id'])
    assert again['_id'] == heatmap['_id'] and again['_version'] > heatmap['_version']


def test_a_bad_click_fails_in_the_container_with_one_line_in_the_job(dsa, pathologist,
                                                                     sample_slide):
    client = pathologist
    item = upload_slide(client, sample_slide)
    job = _wait_job(client, submit_as_histomicsui(client, item, keypoints='[-250, 1500]')[
        '_id'], worker=dsa)
    log = ''.join(job.get('log') or [])
    assert job['status'] == JOB_ERROR, log[-3000:]
    assert 'EmbeddingSimilarity: error: key point' in log and 'outside the image' in log, log
    assert 'Traceback' not in log.split('EmbeddingSimilarity: error:')[1].split('\n')[0]
    assert heatmaps(client, item['_id']) == []


def _annotations(client, item_id: str, cli: str) -> list[dict]:
    return [a for a in client.get('annotation', parameters={'itemId': item_id, 'limit': 0})
            if cli in (a['annotation'].get('attributes') or {})]


def test_all_three_analyses_in_histomicsui_run_in_containers(dsa, pathologist, docker_host,
                                                             sample_slide, slide_40x, tmp_path):
    """One HistomicsUI session, every job run by girder_worker in a container:
    Embedding Similarity, two clicks (the second updates the heatmap in place from the cache in
    Girder); Embedding Clusters, Submit; Collection Similarity, a folder picked in Girder's
    folder browser and a click (the task gets the folder's id, not a download of it, and posts
    a heatmap on the slide there that matched)."""
    from test_analyses_menu import (
        TISSUE,
        TISSUE_2,
        Browser,
        cli_xml,
        image_parameters,
        screenshot_dir,
        yellow_pixels,
    )

    client = pathologist
    me = client.get('user/me')
    item = upload_slide(client, sample_slide)
    public = client.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                              'name': 'Public'})[0]
    archive = client.createFolder(public['_id'], 'archive')
    other = client.uploadFileToFolder(archive['_id'], slide_40x)
    shots = screenshot_dir(tmp_path)
    names = ('EmbeddingSimilarity', 'EmbeddingClusters', 'CollectionSimilarity')
    runs = [{'cli': 'EmbeddingSimilarity',
             'clicks': [{'x': x, 'y': y, 'name': name}
                        for name, (x, y) in (('worker_click1', TISSUE),
                                             ('worker_click2', TISSUE_2))]},
            {'cli': 'EmbeddingClusters', 'name': 'worker_clusters', 'submit': True},
            {'cli': 'CollectionSimilarity', 'folder': {'param': 'collection',
                                                       'path': ['Public', 'archive']},
             'clicks': [{'x': TISSUE[0], 'y': TISSUE[1], 'name': 'worker_collection'}]}]
    config = {'url': dsa['apiUrl'].replace('/api/v1', '') + '/histomics#?image=%s' % item['_id'],
              'login': me['login'], 'password': 'password1', 'image': IMAGE.partition(':')[0],
              'shots': shots, 'runs': runs, 'settleMs': 2000,
              'imageParams': {name: image_parameters(cli_xml(name)) for name in names}}
    browser = Browser(config, tmp_path)

    def run_job(name: str, posted=list) -> tuple[dict, dict]:
        """The job HistomicsUI submitted, run by girder_worker; the request and the shot taken
        once the browser has fetched what the job ``posted()`` (annotation ids)."""
        submitted = browser.next('submitted')
        assert submitted['status'] == 200 and submitted['name'] == name, submitted
        job = _wait_job(client, submitted['job']['_id'], worker=dsa)
        log = ''.join(job.get('log') or [])
        assert job['status'] == JOB_SUCCESS, log[-3000:] + dsa['worker_log'].read_text()[-3000:]
        assert 'Traceback' not in log, log[-3000:]
        browser.resume(posted())
        return submitted, browser.next('shot')

    try:
        assert browser.next('panel')['cli'] == 'EmbeddingSimilarity'
        before = yellow_pixels(os.path.join(shots, 'analyses_page.png'))
        browser.next('submiton')
        versions = []
        for click in runs[0]['clicks']:
            _submitted, shot = run_job(click['name'], lambda: [
                h['_id'] for h in heatmaps(client, item['_id'])])
            heatmap, = heatmaps(client, item['_id'])
            assert any(heatmap['_id'] in url for url in shot['annotationRequests'])
            versions.append((heatmap['_id'], heatmap['_version']))
            gained = yellow_pixels(os.path.join(shots, 'analyses_%s.png' % click['name']))
            # only the hits are coloured: the first click's are an L of dermis (about 19% of the
            # tissue), the second click's only its own cell (204 yellow pixels when measured)
            least = 2000 if click['name'] == 'worker_click1' else 100
            assert gained - before > least, 'no heatmap drawn after %s' % click['name']
        (first_id, first_version), (second_id, second_version) = versions
        assert second_id == first_id and second_version > first_version

        assert browser.next('panel')['cli'] == 'EmbeddingClusters'
        _submitted, shot = run_job('worker_clusters', lambda: [
            a['_id'] for a in _annotations(client, item['_id'], 'EmbeddingClusters')])
        tissue_map, = _annotations(client, item['_id'], 'EmbeddingClusters')
        assert any(tissue_map['_id'] in url for url in shot['annotationRequests'])

        assert browser.next('panel')['cli'] == 'CollectionSimilarity'
        browser.next('submiton')
        submitted, shot = run_job('worker_collection')
        assert submitted['params']['collection'] == archive['_id'], submitted['params']
        create = [body['Cmd'] for body in _creates(docker_host['log'])
                  if body['Cmd'][0] == 'CollectionSimilarity' and '--collection' in body['Cmd']]
        assert create[-1][create[-1].index('--collection') + 1] == archive['_id'], create[-1]
        assert len(_annotations(client, other['itemId'], 'CollectionSimilarity')) == 1
        results = client.get('item', parameters={'folderId': submitted['params'][
            'outputResultsFile_folder'], 'name': submitted['params']['outputResultsFile']})
        assert len(results) == 1  # the ranked table, uploaded by the result hook
        assert not [e for e in browser.next('done')['errors'] if 'annotation' in e.lower()]
    finally:
        browser.close()


def test_cancel_stops_the_container_and_the_next_job_resumes(dsa, pathologist, docker_host,
                                                             sample_slide):
    """Cancel in the job panel: Girder revokes the Celery task, girder_worker's worker hears
    the broadcast and runs ``docker stop`` on the container; our CLI, PID 1 there, gets the
    SIGTERM, caches its finished cells in Girder within the stop timeout, the job ends CANCELED
    and the next click resumes from those cells."""
    import time

    from test_analyses_menu import cache_files

    client = pathologist
    item = upload_slide(client, sample_slide)
    # 16x the tiles (about 15 s of embedding): the job's progress reaches Girder a second or two
    # late and the cancel takes as long again to reach the container, so a shorter job can end
    # before it is stopped
    slow = {'stride': '56', 'batchSize': '4', 'checkpointSeconds': '0'}
    job = submit_as_histomicsui(client, item, **slow)
    deadline = time.monotonic() + 300
    while True:  # cancel once the embedding has started, as a user pressing Cancel
        progress = client.get('job/%s' % job['_id']).get('progress') or {}
        if 'embedding' in progress.get('message', '') and 0 < progress['current'] < 1:
            break
        assert time.monotonic() < deadline and dsa['worker'].poll() is None, progress
        time.sleep(0.2)
    stops = len(STOP.findall(docker_host['log'].read_bytes()))
    client.put('job/%s/cancel' % job['_id'])
    cancelled = _wait_job(client, job['_id'], worker=dsa)
    log = ''.join(cancelled.get('log') or [])
    assert cancelled['status'] == 5, log[-3000:] + dsa['worker_log'].read_text()[-3000:]
    assert 'Asking to stop container' in log, log[-3000:]
    assert len(STOP.findall(docker_host['log'].read_bytes())) == stops + 1  # docker stop
    # girder_worker stops reading the container's output once it asks docker to stop it, so
    # our "interrupted; ... kept" line never reaches the job log: the kept cells show in Girder
    kept = [f for f in cache_files(client) if f['name'].endswith('.npz')]
    assert len(kept) == 1, log[-3000:]  # the finished cells, marked incomplete
    for heatmap in heatmaps(client, item['_id']):  # a heatmap left behind is a marked preview
        assert heatmap['annotation']['description'].startswith('Preview: '), heatmap

    resumed = _wait_job(client, submit_as_histomicsui(client, item, **slow)['_id'],
                        worker=dsa)
    log2 = ''.join(resumed.get('log') or [])
    assert resumed['status'] == JOB_SUCCESS, log2[-3000:]
    reused = int(re.search(r'reusing (\d+) embedded cells from girder:file/', log2).group(1))
    embedded = int(re.search(r'(\d+) embedded now', log2).group(1))
    assert reused > 0 and embedded > 0, log2[-3000:]  # stopped partway, resumed from there
    final, = heatmaps(client, item['_id'])  # the preview, if any, replaced in place
    assert not final['annotation']['description'].startswith('Preview'), final
    assert len([f for f in cache_files(client) if f['name'].endswith('.npz')]) == 1
