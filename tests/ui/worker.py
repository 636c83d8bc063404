"""girder_worker's own Celery worker (0.10, the Girder 3 line) on the test server's folder broker.

    python worker.py QUEUE_DIR

The test Girder server (tests/girder/server.py --worker-queue QUEUE_DIR) sends each job Slicer
CLI Web schedules as a Celery message in QUEUE_DIR (kombu's filesystem transport); this worker
consumes it as a DSA worker consumes RabbitMQ: Slicer CLI Web's ``direct_docker_run.run`` task,
girder_worker's docker plugin and ``docker run`` of the task image through ``DOCKER_HOST``, job
status and log back to Girder with the job's token, outputs uploaded by the result hooks.
One job at a time (prefork, concurrency 1): the worker's main process answers the cancel
broadcasts (a revoke, then girder_worker's ``docker stop``) while its child runs the job.
"""

from __future__ import annotations

import os
import sys


def main(queue: str) -> None:
    os.environ['GIRDER_WORKER_BROKER'] = 'filesystem://'
    os.environ['GIRDER_WORKER_BACKEND'] = 'cache+memory://'
    from folder_broker import write_messages_atomically
    from girder_worker.app import app

    write_messages_atomically()

    app.conf.broker_transport_options = {'data_folder_in': queue, 'data_folder_out': queue,
                                         'control_folder': os.path.join(queue, 'control')}
    # Slicer CLI Web sends girder_io (jsonpickle); never unpickle (Celery refuses to run as
    # root while pickle is accepted, and a worker should not accept it anyway)
    app.conf.accept_content = ['json', 'girder_io']
    app.worker_main(['worker', '--pool', 'prefork', '--concurrency', '1', '--loglevel', 'info',
                     '--without-heartbeat', '--without-mingle', '--without-gossip'])


if __name__ == '__main__':
    main(sys.argv[1])
