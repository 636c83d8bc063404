"""The click a pathologist feels, in the real DSA stack: Submit -> heatmap on the slide.

    python benchmarks/bench_dsa_click.py [--mosaic 4]

Starts the stack of tests/test_dsa_stack.py (:mod:`dsa_stack`: the task image built with
tools/build_image.sh, podman's Docker API, Girder with HistomicsUI and Slicer CLI Web, the image
registered through ``PUT /slicer_cli_web/docker_image``, girder_worker's Celery worker), then
submits what HistomicsUI submits for a point click, on the sample slide and on a mosaic of
``--mosaic``² copies of it, a first click (nothing cached) and a second click at another point
(the grid cached in Girder). Each is timed from the POST of Submit until the heatmap's new
version is readable through the REST API (what HistomicsUI fetches when the job ends), and split
by the job's own timestamps and our log:

* ``queue``: Submit -> girder_worker starts the job (RUNNING);
* ``worker``: RUNNING -> the job's last status change, less the CLI: the slide's download into
  the job volume, ``docker run`` (container start and stop), the result hooks;
* ``cli``: our CLI inside the container, from its "done in" line (model load, embedding or
  cache download, scoring, posting the annotation and hits: the annotation ingest);
* ``visible``: the job's end -> the new heatmap version is served by the REST API.

Browser time (HistomicsUI's debounced refresh and drawing) is not included. CPU only, one
worker (concurrency 1), the bundled model (efficientnet-lite0). Writes
``benchmarks/results/bench_dsa_click.json``.
"""

from __future__ import annotations

import argparse
import datetime
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

STATUS = {1: 'queued', 2: 'running', 3: 'success', 4: 'error', 6: 'pushing'}


def _time(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace('Z', '+00:00')).timestamp()


def _click(client, item: dict, point: tuple[int, int], previous: int, worker: dict) -> dict:
    import dsa_stack
    from test_analyses_menu import heatmaps, submit_as_histomicsui

    started = time.time()
    job = submit_as_histomicsui(client, item, keypoints='[%d, %d]' % point)
    job = dsa_stack.wait_job(client, job['_id'], 1800, worker)
    ended = time.time()
    log = ''.join(job.get('log') or [])
    assert job['status'] == dsa_stack.JOB_SUCCESS, log[-3000:]
    while True:
        found = heatmaps(client, item['_id'])
        if found and found[0]['_version'] > previous:
            break
        time.sleep(0.05)
    visible = time.time()
    stamps = {entry['status']: _time(entry['time']) for entry in job.get('timestamps', [])}
    running = stamps.get(2, started)
    last = max(stamps.values()) if stamps else ended
    cli = float(re.search(r'done in ([0-9.]+) s', log).group(1))
    embedded = re.search(r'(\d+) embedded now', log)
    return {'total': visible - started, 'queue': running - started,
            'worker': (last - running) - cli, 'cli': cli, 'visible': visible - ended,
            'cells_embedded': int(embedded.group(1)) if embedded else None,
            'version': found[0]['_version']}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mosaic', type=int, default=4, help='copies per side (4: 16x)')
    args = parser.parse_args()
    import dsa_stack
    import girder_client
    import numpy as np
    import slides
    from conftest import upload_slide
    from test_analyses_menu import TISSUE, TISSUE_2

    built = subprocess.run(['bash', os.path.join(REPO, 'tools', 'build_image.sh'),
                            dsa_stack.IMAGE], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    rows = []
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
                item = upload_slide(client, path)
                previous = -1
                for click, point in (('first', TISSUE), ('cached', TISSUE_2)):
                    row = _click(client, item, point, previous, dsa)
                    previous = row.pop('version')
                    rows.append(dict(slide=name, click=click, **row))
    print('%-12s %-7s %8s %8s %8s %8s %8s %7s' % ('slide', 'click', 'total s', 'queue',
                                                   'worker', 'cli', 'visible', 'cells'))
    for row in rows:
        print('%-12s %-7s %8.2f %8.2f %8.2f %8.2f %8.2f %7s' % (
            row['slide'], row['click'], row['total'], row['queue'], row['worker'], row['cli'],
            row['visible'], row['cells_embedded']))
    save_report('bench_dsa_click', {'mosaic': args.mosaic, 'rows': rows,
                                    'registration_seconds': dsa['registration_seconds']})


if __name__ == '__main__':
    main()
