"""The real DSA stack on this machine, for tests/test_dsa_stack.py and
benchmarks/bench_dsa_click.py: podman's Docker API, a Girder with HistomicsUI whose Slicer CLI
Web and girder_worker talk to it, the task image registered through
``PUT /slicer_cli_web/docker_image``, and girder_worker's Celery worker.

Shims for this machine, none in the code under test: no registry is reachable, so the
debootstrap base the image is built on is tagged ``busybox:latest`` (girder_worker runs it to
make the job's volume removable); containers use the host network (one more key in
``GIRDER_WORKER_DOCKER_RUN_OPTIONS``) so the task reaches the test Girder on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

from conftest import ADMIN, running_girder
from test_container import _podman_env, podman
from test_histomicsui import PLUGINS, ui_python

UI = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ui')
IMAGE = 'embedding-similarity:dev'
BASE_IMAGE = 'localhost/bookworm-py:2'
"""The debootstrap base tools/build_image.sh imports; it has ``chmod``, all girder_worker's
``busybox`` is asked to run."""
JOB_RUNNING, JOB_SUCCESS, JOB_ERROR, JOB_CANCELED = 2, 3, 4, 5


def _wait_for(path, proc: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert proc.poll() is None, '%s exited with %s' % (what, proc.returncode)
        assert time.monotonic() < deadline, '%s did not start in %g s' % (what, seconds)
        time.sleep(0.1)


@contextlib.contextmanager
def docker_api(work) -> Iterator[dict]:
    """podman's Docker API behind a tee socket (tests/ui/docker_tee.py): ``DOCKER_HOST`` and
    the ``log`` of every request it carried."""
    engine, tee, log = work / 'podman.sock', work / 'docker.sock', work / 'requests.log'
    service = subprocess.Popen(['podman', 'system', 'service', '--time=0', 'unix://%s' % engine],
                               env=_podman_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    proxy = subprocess.Popen([sys.executable, os.path.join(UI, 'docker_tee.py'), str(tee),
                              str(engine), str(log)])
    try:
        _wait_for(engine, service, 'podman system service')
        _wait_for(tee, proxy, 'the tee socket')
        tagged = podman('tag', BASE_IMAGE, 'docker.io/library/busybox:latest')
        assert tagged.returncode == 0, tagged.stderr
        yield {'DOCKER_HOST': 'unix://%s' % tee, 'log': log}
    finally:
        for proc in (proxy, service):
            proc.terminate()
            proc.wait(timeout=30)


def wait_job(client, job_id: str, seconds: float = 600, worker: dict | None = None) -> dict:
    """The job once it has ended (success, error or cancelled); fails if ``worker`` died."""
    deadline = time.monotonic() + seconds
    while True:
        job = client.get('job/%s' % job_id)
        if job['status'] in (JOB_SUCCESS, JOB_ERROR, JOB_CANCELED):
            return job
        if worker is not None:
            assert worker['worker'].poll() is None, 'girder_worker exited: %s' % (
                worker['worker_log'].read_text()[-3000:])
        assert time.monotonic() < deadline, 'job %s still %s: %s' % (
            job_id, job['status'], ''.join(job.get('log') or [])[-2000:])
        time.sleep(0.2)


@contextlib.contextmanager
def dsa_server(work, docker_host: dict) -> Iterator[dict]:
    """A Girder with HistomicsUI whose Slicer CLI Web talks to ``docker_host``, the image
    registered the real way (``registration``: its job), and girder_worker's Celery worker
    (tests/ui/worker.py) consuming its queue."""
    import girder_client

    queue = work / 'queue'
    hf_home = work / 'hf'  # the admin's model cache, read-only in every job (README)
    hf_home.mkdir()
    # the README's GIRDER_WORKER_DOCKER_RUN_OPTIONS, plus the host network (a shim, above)
    run_options = json.dumps({'volumes': ['%s:/opt/hf' % hf_home],
                              'environment': {'HF_HUB_OFFLINE': '1'}, 'network_mode': 'host'})
    env = {'DOCKER_HOST': docker_host['DOCKER_HOST'],
           'GIRDER_WORKER_DOCKER_RUN_OPTIONS': run_options}
    with running_girder(ui_python(), work, PLUGINS, ('--worker-queue', str(queue),
                                                     '--worker-revoke'), env=env) as info:
        admin = girder_client.GirderClient(apiUrl=info['apiUrl'])
        admin.authenticate(*ADMIN)
        tasks = admin.post('collection', parameters={'name': 'Tasks', 'public': 'true'})
        folder = admin.post('folder', parameters={'parentType': 'collection',
                                                  'parentId': tasks['_id'],
                                                  'name': 'Slicer CLI Web Tasks'})
        started = time.monotonic()
        job = admin.put('slicer_cli_web/docker_image', parameters={
            'name': json.dumps([IMAGE]), 'folder': folder['_id']})
        info['registration'] = wait_job(admin, job['_id'])
        info['registration_seconds'] = time.monotonic() - started
        with open(work / 'worker.log', 'w') as log:
            worker = subprocess.Popen([ui_python(), os.path.join(UI, 'worker.py'), str(queue)],
                                      env=dict(os.environ, **env), stdout=log,
                                      stderr=subprocess.STDOUT)
            info['worker_log'], info['worker'] = work / 'worker.log', worker
            try:
                yield info
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
