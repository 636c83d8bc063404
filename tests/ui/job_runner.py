"""Run one Slicer CLI Web job the way girder_worker would, without docker.

    python job_runner.py QUEUE_DIR WORK_DIR ENTRYPOINT... [--timeout S]

Runs in the HistomicsUI test environment (girder_worker 0.10 + girder_worker_utils, the Girder 3
line). The test Girder server (tests/girder/server.py --worker-queue QUEUE_DIR) sends
girder_worker's Celery messages to files; this takes the oldest one and does what the worker's
``slicer_cli_web.girder_worker_plugin.direct_docker_run.run`` task does with it:

- decodes the message with girder_worker's own ``girder_io`` serializer (jsonpickle), so the
  container arguments and result hooks are the transform objects Slicer CLI Web built;
- transforms every argument with a default temporary volume, as ``_docker_run`` does:
  ``GirderFileIdToVolume`` downloads the file, ``VolumePath`` names a file in the volume,
  ``GirderApiUrl`` / ``GirderToken`` give the job's API URL and token;
- runs ENTRYPOINT (what ``docker run IMAGE`` would run) with exactly those arguments, with stdout
  through Slicer CLI Web's ``CLIProgressCLIWriter`` (progress tags -> job progress, the rest ->
  job log) and stderr into the job log;
- on success runs the ``girder_result_hooks`` (``GirderUploadVolumePathToFolder`` uploads each
  output with its ``reference``, and the server ingests ``.anot`` files from that reference, as
  large_image_annotation does for a worker's upload);
- keeps the job's status as the worker does (RUNNING, PUSHING_OUTPUT, SUCCESS / ERROR /
  CANCELED) through the job's own ``jobInfoSpec`` token;
- on a cancel (the job turns CANCELING) does what girder_worker's ``docker stop`` does: SIGTERM
  to the entrypoint, SIGKILL to the rest of the process group (the container) after 10 s; it
  skips the result hooks and marks the job CANCELED.

Not covered: docker itself (image pull, container isolation, user ids, GPU device requests,
``docker-params``), the volume mount (the temporary volume's host and container paths are the
same folder here), Celery's revoke broadcast (the cancel is read from the job's status), and
``DirectGirderFileIdToVolume`` direct paths (the server leaves ``worker.direct_path`` unset).
Prints one JSON line: {"argv", "returncode", "status", "jobId"}.
"""

from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

CANCEL_POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 10  # docker stop's default


def next_message(queue: str, timeout: float) -> dict:
    """The oldest Celery message in ``queue`` (kombu's filesystem transport), removed from it."""
    deadline = time.monotonic() + timeout
    while True:
        names = sorted(glob.glob(os.path.join(queue, '*.msg')))
        if names:
            with open(names[0]) as handle:
                message = json.load(handle)
            os.unlink(names[0])
            return message
        if time.monotonic() > deadline:
            raise SystemExit('no job message in %s after %g s' % (queue, timeout))
        time.sleep(0.1)


def decode(message: dict) -> tuple[dict, dict]:
    """The task's kwargs and headers, restored with girder_worker's serializer."""
    import girder_worker.app  # noqa: F401  (registers the girder_io serializer)
    import jsonpickle

    assert message['content-type'] == 'application/json', message['content-type']
    body = message['body']
    if message['properties'].get('body_encoding') == 'base64':
        body = base64.b64decode(body).decode(message.get('content-encoding') or 'utf-8')
    args, kwargs, _embed = jsonpickle.decode(body)
    assert not args, args
    headers = message['headers']
    unpickler = jsonpickle.unpickler.Unpickler()
    headers['girder_result_hooks'] = [unpickler.restore(hook) for hook in
                                      headers.get('girder_result_hooks', [])]
    return kwargs, headers


def transform_args(container_args: list, volume) -> list[str]:
    """girder_worker's ``_walk_obj(args, transform)`` with the default temporary volume."""
    from girder_worker_utils import _walk_obj
    from girder_worker_utils.transform import Transform

    def resolve(value):
        if isinstance(value, Transform):
            return value.transform(_default_temp_volume=volume)
        return value
    return [str(value) for value in _walk_obj(container_args, resolve)]


class Cancelled(Exception):
    pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run_process(argv: list[str], job_manager, env: dict, timeout: float) -> int:
    """Run ``argv`` in its own process group (the container); stdout through
    CLIProgressCLIWriter, stderr to the log. A cancel does what ``docker stop`` does: SIGTERM to
    the entrypoint only, then SIGKILL to everything left after the grace period."""
    from girder_worker.utils import JobStatus
    from slicer_cli_web.girder_worker_plugin.cli_progress import CLIProgressCLIWriter

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    writer = CLIProgressCLIWriter(job_manager)
    lock = threading.Lock()

    def pump(stream, write):
        for line in iter(stream.readline, b''):
            with lock:
                write(line)
        stream.close()
    readers = [threading.Thread(target=pump, args=(proc.stdout, writer.write)),
               threading.Thread(target=pump, args=(proc.stderr, job_manager.write))]
    for reader in readers:
        reader.start()
    stop_at = None
    deadline = time.monotonic() + timeout
    while True:
        now = time.monotonic()
        stopping = stop_at is not None and now < stop_at + STOP_GRACE_SECONDS + 5
        if proc.poll() is not None and not (stopping and group_alive(proc.pid)):
            break
        if stop_at is None and job_manager.refreshStatus() == JobStatus.CANCELING:
            stop_at = now
            proc.send_signal(signal.SIGTERM)
        overdue = stop_at is not None and now > stop_at + STOP_GRACE_SECONDS
        if (overdue or now > deadline) and group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(CANCEL_POLL_SECONDS)
    for reader in readers:
        reader.join()
    with lock:
        writer.close()
    if stop_at is not None:
        raise Cancelled(proc.returncode)
    return proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('queue')
    parser.add_argument('workdir')
    parser.add_argument('entrypoint', nargs='+')
    parser.add_argument('--timeout', type=float, default=600)
    parser.add_argument('--wait', type=float, default=60, help='seconds to wait for a job')
    args = parser.parse_args()

    from girder_worker.docker.transforms import BindMountVolume
    from girder_worker.utils import JobManager, JobStatus

    kwargs, headers = decode(next_message(args.queue, args.wait))
    spec = headers['jobInfoSpec']
    job_manager = JobManager(logPrint=spec.get('logPrint', True), url=spec['url'],
                             method=spec['method'], headers=spec['headers'],
                             reference=spec.get('reference'))
    os.makedirs(args.workdir, exist_ok=True)
    volume = BindMountVolume(args.workdir, args.workdir)  # no container: both paths the same
    job_manager.updateStatus(JobStatus.RUNNING)
    argv = transform_args(kwargs['container_args'], volume)
    shown = ['<token>' if i and argv[i - 1] == '--girder-token' else arg
             for i, arg in enumerate(argv)]  # never print the token
    report = {'jobId': spec['reference'], 'argv': shown, 'image': kwargs['image']}
    try:
        returncode = run_process(list(args.entrypoint) + argv, job_manager, dict(os.environ),
                                 args.timeout)
        report['returncode'] = returncode
        if returncode:
            job_manager.write('Non-zero exit code from docker container (%d).\n' % returncode)
            status = JobStatus.ERROR
        else:
            job_manager.updateStatus(JobStatus.PUSHING_OUTPUT)
            for hook in headers['girder_result_hooks']:
                hook.transform(None, _default_temp_volume=volume)
            status = JobStatus.SUCCESS
    except Cancelled as cancel:
        report['returncode'] = cancel.args[0]
        status = JobStatus.CANCELED
    job_manager.updateStatus(status)
    report['status'] = status
    print(json.dumps(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
