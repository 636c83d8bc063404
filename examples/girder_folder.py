#!/usr/bin/env python
"""Run EmbeddingSimilarity on every image of a Girder folder, with progress.

Two ways, for two set-ups:

* ``--mode cli`` (default): this machine downloads each image and runs the task itself with
  ``--api-url`` / ``--girder-token``; the embeddings are cached in your Girder Private folder and
  (with ``--keypoints``) heatmaps are posted to the items. Needs this package installed.
* ``--mode slicer``: asks a Digital Slide Archive to run the imported task image on each item
  through Slicer CLI Web's REST endpoint, and follows the jobs. Needs a DSA with workers.

Typical use: pre-compute the embeddings of a whole folder overnight, so that clicking in
HistomicsUI the next day takes seconds::

    GIRDER_API_KEY=... python examples/girder_folder.py --api-url https://dsa.example.org/api/v1 \\
        --folder FOLDER_ID --model UNI2-h

Credentials come from ``GIRDER_API_KEY`` or ``GIRDER_TOKEN`` in the environment (never from the
command line, where other users could read them) and are never printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

PROGRESS = re.compile(r'<filter-progress>([0-9.]+)</filter-progress>')
STAGE = re.compile(r'<filter-start><filter-name>([^<]+)</filter-name>')


def connect(api_url: str):
    import girder_client

    client = girder_client.GirderClient(apiUrl=api_url)
    if os.environ.get('GIRDER_API_KEY'):
        client.authenticate(apiKey=os.environ['GIRDER_API_KEY'])
    elif os.environ.get('GIRDER_TOKEN'):
        client.setToken(os.environ['GIRDER_TOKEN'])
    else:
        sys.exit('set GIRDER_API_KEY or GIRDER_TOKEN in the environment')
    if not client.get('user/me'):
        sys.exit('Girder at %s refused the credentials' % api_url)
    return client


def image_items(client, folder_id: str) -> list[dict]:
    """The items of the folder that are large images, in name order."""
    items = client.get('item', parameters={'folderId': folder_id, 'limit': 0, 'sort': 'name'})
    return [item for item in items if item.get('largeImage', {}).get('fileId')]


def run_cli(client, item: dict, args: argparse.Namespace, workdir: str, report) -> int:
    """Download the item's image and run the task on it, reporting its progress tags."""
    file_id = item['largeImage']['fileId']
    file_info = client.getFile(file_id)
    path = os.path.join(workdir, file_id + '-' + os.path.basename(file_info['name']))
    if not os.path.exists(path):
        report('downloading %s' % file_info['name'])
        client.downloadFile(file_id, path)
    command = [sys.executable, '-m', 'EmbeddingSimilarity', path, '--image-id', file_id,
               '--api-url', client.urlBase.rstrip('/'), '--girder-token', client.token,
               '--model', args.model]
    if args.keypoints:
        command += ['--keypoints', args.keypoints]
    else:  # embeddings only: a Girder run that asks nothing must say so by keeping its files
        command += ['--keep-output-files', 'true', '--output-embeddings',
                    os.path.join(workdir, file_id + '.npz')]
    command += args.extra
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stage = ''
    for line in proc.stdout:
        match = STAGE.search(line)
        if match:
            stage = match.group(1)
            report(stage)
        match = PROGRESS.search(line)
        if match:
            report('%s %3.0f%%' % (stage, 100 * float(match.group(1))))
    errors = proc.stderr.read()
    proc.wait()
    if proc.returncode:
        report('failed: %s' % (errors.strip().splitlines() or ['exit %d' % proc.returncode])[-1])
    return proc.returncode


def run_slicer(client, item: dict, args: argparse.Namespace, report) -> int:
    """Start the task through Slicer CLI Web and follow its job until it ends."""
    file_id = item['largeImage']['fileId']
    params = {'inputImageFile': file_id, 'inputImageId': file_id, 'model': args.model,
              'keypoints': args.keypoints or '-1,-1',
              # embeddings only: a job that asks nothing must say so by keeping its files
              'keepOutputFiles': 'false' if args.keypoints else 'true'}
    if args.output_folder:
        base = os.path.splitext(item['name'])[0]
        params.update(outputEmbeddingFile='%s.%s.npz' % (base, args.model),
                      outputEmbeddingFile_folder=args.output_folder)
    job = client.post('slicer_cli_web/%s/run' % args.cli_id, parameters=params)
    status_names = {0: 'inactive', 1: 'queued', 2: 'running', 3: 'success', 4: 'error',
                    5: 'cancelled'}
    while True:
        job = client.get('job/%s' % job['_id'])
        status = status_names.get(job['status'], str(job['status']))
        progress = job.get('progress') or {}
        if progress.get('total'):
            report('%s %3.0f%%' % (status, 100 * progress['current'] / progress['total']))
        else:
            report(status)
        if job['status'] in (3, 4, 5):
            return 0 if job['status'] == 3 else 1
        time.sleep(args.poll)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--api-url', required=True, help='e.g. https://dsa.example.org/api/v1')
    parser.add_argument('--folder', required=True, help='Girder id of the folder of images')
    parser.add_argument('--mode', choices=('cli', 'slicer'), default='cli')
    parser.add_argument('--model', default='efficientnet-lite0')
    parser.add_argument('--keypoints', default='',
                        help='x,y in base pixels: also post a heatmap on every image')
    parser.add_argument('--cli-id', default='',
                        help='slicer mode: the Girder id of the imported EmbeddingSimilarity task')
    parser.add_argument('--output-folder', default='',
                        help='slicer mode: Girder folder for the .npz outputs')
    parser.add_argument('--workdir', default='', help='cli mode: where images are downloaded')
    parser.add_argument('--poll', type=float, default=5.0, help='slicer mode: seconds between '
                        'job checks')
    parser.add_argument('extra', nargs='*', help='more task arguments, after --')
    args = parser.parse_args()
    if args.mode == 'slicer' and not args.cli_id:
        parser.error('--mode slicer needs --cli-id')
    client = connect(args.api_url)
    items = image_items(client, args.folder)
    if not items:
        print('no images in folder %s' % args.folder)
        return 1
    failures = 0
    with tempfile.TemporaryDirectory(prefix='embedding-similarity-') as scratch:
        workdir = args.workdir or scratch
        for index, item in enumerate(items, 1):
            def report(text: str, index: int = index, name: str = item['name']) -> None:
                print('[%d/%d] %s: %s' % (index, len(items), name, text), flush=True)
            if args.mode == 'cli':
                code = run_cli(client, item, args, workdir, report)
            else:
                code = run_slicer(client, item, args, report)
            report('done' if code == 0 else 'failed')
            failures += code != 0
    print('%d of %d images done' % (len(items) - failures, len(items)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
