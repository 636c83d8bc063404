"""The click a pathologist feels, in the real DSA stack: a click on the slide -> heatmap drawn.

    python benchmarks/bench_dsa_click.py [--mosaic 4]

Starts the stack of tests/test_dsa_stack.py (:mod:`dsa_stack`: the task image built with
tools/build_image.sh, podman's Docker API, Girder with HistomicsUI and Slicer CLI Web, the image
registered through ``PUT /slicer_cli_web/docker_image``, girder_worker's Celery worker), then,
in headless Chromium (tests/ui/analyses.js), opens Analyses -> Embedding Similarity on the
sample slide and on a mosaic of ``--mosaic``² copies of it and clicks twice: a first click
(nothing cached) and a second click at another point (the grid cached in Girder). Each click is
timed from the mouse click until HistomicsUI has fetched the heatmap's final version (*browser*)
and until the REST API serves it (*REST*); *first seen* is its first fetch of any version (a
first click posts coarse previews while it embeds). The rest splits the REST time by the job's
timestamps, podman's container events and our log:

* ``queue``: the click -> girder_worker starts the job (RUNNING): HistomicsUI's POST, Slicer CLI
  Web, the Celery queue;
* ``download``: RUNNING -> the container is created: the slide's download into the job volume
  and the image inspect;
* ``start``: container created -> died, less our CLI: container start, Python start and
  imports, exit;
* ``cli``: our CLI, from its "done in" line; ``post`` is the part spent posting the heatmap and
  caching the grid in Girder (its ``publish`` and ``cache`` steps);
* ``finish``: the container died -> the job's last status: girder_worker's result hooks and
  ``busybox chmod`` of the volume (``chmod``: that container's create -> died);
* ``refresh``: the heatmap posted (its ``updated`` time in Girder) -> HistomicsUI has fetched it
  (it hears of the new version from Girder's notifications; drawing it is not included).

CPU only, one worker (concurrency 1), the bundled model (efficientnet-lite0). Writes
``benchmarks/results/bench_dsa_click.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TESTS = os.path.join(REPO, 'tests')
sys.path[:0] = [REPO, TESTS]

from results_file import save_report  # noqa: E402 - benchmarks/ is on sys.path as a script


def _time(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp()


def _container_events(since: float) -> list[dict]:
    """podman's create / start / died events of task containers since ``since``."""
    from test_container import _podman_env

    out = subprocess.run(['podman', 'events', '--stream=false', '--since',
                          str(int(since) - 1), '--format', 'json', '--filter', 'type=container'],
                         env=_podman_env(), capture_output=True, text=True, check=True,
                         timeout=60).stdout
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
    return [e for e in events if e['Status'] in ('create', 'start', 'died')]


def _job_container(events: list[dict], start: float, end: float, image: str) -> dict[str, float]:
    """create / start / died times of the one container of ``image`` created within the job."""
    ids = {e['ID'] for e in events if e['Status'] == 'create' and image in e.get('Image', '')
           and start <= _time(e['Time']) <= end}
    assert len(ids) == 1, ids
    return {e['Status']: _time(e['Time']) for e in events if e['ID'] in ids}


def _wait_for_version(client, item_id: str, previous: int) -> tuple[dict, float]:
    from test_analyses_menu import heatmaps

    while True:
        found = heatmaps(client, item_id)
        if found and found[0]['_version'] > previous:
            return found[0], time.time()
        time.sleep(0.05)


def _clicks_in_browser(dsa: dict, client, item: dict, work: Path, name: str) -> list[dict]:
    """Two clicks in HistomicsUI on ``item``; each job's timings (the container's added later)."""
    import dsa_stack
    from test_analyses_menu import TISSUE, TISSUE_2, Browser

    shots = work / ('shots-' + name.replace(' ', '_'))
    shots.mkdir()
    config = {'url': dsa['apiUrl'].replace('/api/v1', '') + '/histomics#?image=%s' % item['_id'],
              'login': client.get('user/me')['login'], 'password': 'password1',
              'image': dsa_stack.IMAGE.partition(':')[0], 'cli': 'EmbeddingSimilarity',
              'shots': str(shots), 'settleMs': 1000,
              'imageParams': {'EmbeddingSimilarity': ['inputImageFile', 'inputImageId']},
              'clicks': [{'x': x, 'y': y, 'name': click}
                         for click, (x, y) in (('first', TISSUE), ('cached', TISSUE_2))]}
    browser = Browser(config, work / name.replace(' ', '_'))
    rows, previous = [], -1
    try:
        browser.next('submiton')
        for click in ('first', 'cached'):
            submitted = browser.next('submitted')
            job = dsa_stack.wait_job(client, submitted['job']['_id'], 1800, dsa)
            log = ''.join(job.get('log') or [])
            assert job['status'] == dsa_stack.JOB_SUCCESS, log[-3000:]
            heatmap, rest_at = _wait_for_version(client, item['_id'], previous)
            previous = heatmap['_version']
            browser.resume([heatmap['_id']])
            shot = browser.next('shot')
            stamps = {entry['status']: _time(entry['time']) for entry in job['timestamps']}
            end = max(stamps.values())
            # HistomicsUI hears of each version as soon as it is posted, before the job ends:
            # a first click posts previews while it embeds, then the final map
            posted = _time(heatmap['updated'])
            fetched = [entry['at'] for entry in shot['annotationsLoaded']
                       if heatmap['_id'] in entry['url'] and entry['at'] >= submitted['actedAt']]
            final = [at for at in fetched if at >= posted]
            assert final, 'HistomicsUI did not fetch the new heatmap: %s' % shot
            steps = {step: float(seconds) for step, seconds in re.findall(
                r'<filter-name>([\w-]+)</filter-name><filter-time>([0-9.]+)<', log)}
            embedded = re.search(r'(\d+) embedded now', log)
            rows.append({'slide': name, 'click': click, 'clicked': submitted['actedAt'],
                         'running': stamps[dsa_stack.JOB_RUNNING], 'end': end, 'rest': rest_at,
                         'posted': posted, 'first_seen': min(fetched), 'browser': min(final),
                         'cli': float(re.search(r'done in ([0-9.]+) s', log).group(1)),
                         'steps': steps,
                         'cells_embedded': int(embedded.group(1)) if embedded else None})
    finally:
        browser.close()
    return rows


def _breakdown(row: dict, events: list[dict]) -> dict:
    """The click's seconds, by stage (see the module's docstring)."""
    container = _job_container(events, row['running'], row['end'], 'embedding-similarity')
    chmod = _job_container(events, container['died'], row['end'], 'busybox')
    clicked, steps = row['clicked'], row['steps']
    return {'slide': row['slide'], 'click': row['click'],
            'first_seen': row['first_seen'] - clicked,
            'total_browser': row['browser'] - clicked, 'total_rest': row['rest'] - clicked,
            'queue': row['running'] - clicked, 'download': container['create'] - row['running'],
            'start': container['died'] - container['create'] - row['cli'], 'cli': row['cli'],
            'post': steps.get('publish', 0.0) + steps.get('cache', 0.0),
            'finish': row['end'] - container['died'], 'chmod': chmod['died'] - chmod['create'],
            'refresh': row['browser'] - row['posted'],
            'rest_after_end': row['rest'] - row['end'], 'cli_steps': steps,
            'cells_embedded': row['cells_embedded']}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mosaic', type=int, default=4, help='copies per side (4: 16x)')
    args = parser.parse_args()
    import dsa_stack
    import girder_client
    import numpy as np
    import slides
    from conftest import upload_slide

    built = subprocess.run(['bash', os.path.join(REPO, 'tools', 'build_image.sh'),
                            dsa_stack.IMAGE], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    rows = []
    began = time.time()
    with tempfile.TemporaryDirectory(prefix='bench-dsa-') as tmp:
        work = Path(tmp)
        (work / 'docker').mkdir()
        (work / 'dsa').mkdir()
        mosaic = str(work / ('mosaic_%dx.tiff' % args.mosaic ** 2))
        pixels = slides.read_sample()
        slides.write_pyramid(mosaic, np.tile(pixels, (args.mosaic, args.mosaic, 1)),
                             slides.SAMPLE_MPP)
        with dsa_stack.docker_api(work / 'docker') as host, \
                dsa_stack.dsa_server(work / 'dsa', host) as dsa:
            login = 'bench%s' % os.urandom(3).hex()
            girder_client.GirderClient(apiUrl=dsa['apiUrl']).post('user', parameters={
                'login': login, 'email': login + '@example.org', 'firstName': 'B',
                'lastName': 'C', 'password': 'password1'})
            client = girder_client.GirderClient(apiUrl=dsa['apiUrl'])
            client.authenticate(login, 'password1')
            for name, path in (('sample', slides.SAMPLE_SLIDE),
                               ('mosaic %dx' % args.mosaic ** 2, mosaic)):
                (work / name.replace(' ', '_')).mkdir()
                rows += _clicks_in_browser(dsa, client, upload_slide(client, path), work, name)
    events = _container_events(began)
    rows = [_breakdown(row, events) for row in rows]
    columns = ('first_seen', 'total_browser', 'total_rest', 'queue', 'download', 'start', 'cli',
               'post', 'finish', 'chmod', 'refresh')
    print('%-12s %-7s' % ('slide', 'click') + ''.join('%9s' % c.replace('total_', '')
                                                      for c in columns) + '%7s' % 'cells')
    for row in rows:
        print('%-12s %-7s' % (row['slide'], row['click']) +
              ''.join('%9.2f' % row[c] for c in columns) + '%7s' % row['cells_embedded'])
    save_report('bench_dsa_click', {'mosaic': args.mosaic, 'rows': rows,
                                    'registration_seconds': dsa['registration_seconds']})


if __name__ == '__main__':
    main()
