"""A real Girder 3 HTTP server on 127.0.0.1 for the integration tests, with no MongoDB.

Runs in the Girder test environment (tests/girder/setup_env.sh). The database is mongomock,
inside this process; clients only talk HTTP to it, exactly as the task does with --api-url and
--girder-token. When listening it writes a JSON ready file ({"apiUrl", "port", "pid"}) and then
serves until SIGTERM.

    server.py --ready-file F --assetstore DIR [--admin LOGIN:PASSWORD] [--plugins a,b]
              [--slicer-cli IMAGE=COMMAND ...] [--worker-queue DIR] [--job-token-scope S]

``--slicer-cli`` registers a task image's CLIs as ``PUT /slicer_cli_web/docker_image`` would,
without docker: COMMAND stands for ``docker run IMAGE`` (e.g. ``bash docker-entrypoint.sh``).
``--worker-queue`` points girder_worker's Celery broker at a folder, so a job Slicer CLI Web
schedules is written there as the message a worker would receive (tests/ui/job_runner.py runs it).
"""

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import types

# pymongo-only client options that Girder passes and mongomock does not take
_PYMONGO_ONLY = ('socketTimeoutMS', 'connectTimeoutMS', 'serverSelectionTimeoutMS',
                 'readPreference', 'replicaSet', 'w')


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def use_mongomock() -> None:
    """Replace pymongo's client with mongomock and fill the gaps Girder 3 + large_image hit."""
    import mongomock
    import mongomock.collection
    import mongomock.command_cursor
    import pymongo

    class Client(mongomock.MongoClient):
        def __init__(self, host=None, *args, **kwargs):
            for key in _PYMONGO_ONLY:
                kwargs.pop(key, None)
            super().__init__(host, *args, **kwargs)

    pymongo.MongoClient = Client
    import girder.models

    girder.models.pymongo.MongoClient = Client

    cursor = mongomock.collection.Cursor
    if not hasattr(cursor, 'count'):
        # Girder 3 gives pymongo>=4 cursors a count(); plugins still call it.
        def count(self, with_limit_and_skip=False):
            options = {}
            if with_limit_and_skip and self._limit:
                options['limit'] = self._limit
            if with_limit_and_skip and self._skip:
                options['skip'] = self._skip
            return self.collection.count_documents(self._spec or {}, **options)
        cursor.count = count

    # large_image_annotation reads elements with a RawBSONDocument document_class, which
    # mongomock refuses; it only indexes them like dicts, so plain dicts serve.
    original = mongomock.collection.Collection.with_options

    def with_options(self, codec_options=None, *args, **kwargs):
        if codec_options is not None and getattr(codec_options, 'document_class',
                                                 dict) is not dict:
            codec_options = codec_options.with_options(document_class=dict)
        return original(self, codec_options, *args, **kwargs)
    mongomock.collection.Collection.with_options = with_options

    # Girder's @filtermodel only recognises pymongo's cursor classes.
    import girder.api.rest

    girder.api.rest._MONGO_CURSOR_TYPES = tuple(girder.api.rest._MONGO_CURSOR_TYPES) + (
        mongomock.collection.Cursor, mongomock.command_cursor.CommandCursor)


def folder_annotations_without_let() -> None:
    """large_image's annotations-in-a-folder query (Girder's folder browser asks whether a
    folder holds any) uses ``$lookup`` with ``let``, which mongomock lacks: answer it with plain
    finds. Only where large_image's annotation plugin is installed."""
    try:
        from girder_large_image_annotation.models.annotation import Annotation
        from girder_large_image_annotation.rest.annotation import AnnotationResource
    except ImportError:
        return
    from bson import ObjectId
    from girder.models.folder import Folder
    from girder.models.item import Item

    def get_folder_annotations(self, id, recurse, user, limit=False, offset=False, sort=False,
                               sortDir=False, count=False):
        folders, queue = {ObjectId(id)}, [ObjectId(id)]
        while recurse and queue:
            for child in Folder().collection.find({'parentId': queue.pop()}, {'_id': 1}):
                if child['_id'] not in folders:
                    folders.add(child['_id'])
                    queue.append(child['_id'])
        items = [i['_id'] for i in Item().collection.find({'folderId': {'$in': list(folders)}},
                                                          {'_id': 1})]
        query = {'itemId': {'$in': items}, '_active': {'$ne': False}}
        if not user['admin']:
            query['$or'] = [
                {'access.users': {'$elemMatch': {'id': user['_id'], 'level': {'$gte': 2}}}},
                {'access.groups': {'$elemMatch': {'id': {'$in': user['groups']},
                                                  'level': {'$gte': 2}}}}]
        if count:
            return iter([{'count': Annotation().collection.count_documents(query)}])
        cursor = Annotation().collection.find(query)
        if sort:
            cursor = cursor.sort(sort, sortDir)
        return cursor.skip(offset or 0).limit(limit or 0)
    AnnotationResource.getFolderAnnotations = get_folder_annotations


def use_folder_broker(folder: str) -> None:
    """Send girder_worker's Celery messages to files in ``folder`` (kombu's filesystem transport).

    Call before girder_worker is imported. The worker plugin's own Celery app (used to revoke a
    cancelled job) gets an in-memory broker: the runner sees a cancel in the job's status.
    """
    os.makedirs(folder, exist_ok=True)
    os.environ['GIRDER_WORKER_BROKER'] = 'filesystem://'
    os.environ['GIRDER_WORKER_BACKEND'] = 'cache+memory://'
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'ui'))
    from folder_broker import write_messages_atomically
    from girder_worker.app import app

    write_messages_atomically()

    app.conf.broker_transport_options = {'data_folder_in': folder, 'data_folder_out': folder,
                                         'control_folder': os.path.join(folder, 'control')}


def configure_worker_settings(api_url: str, revoke_folder: str = '') -> None:
    """The worker plugin's settings. With ``revoke_folder`` (the queue folder), the plugin's
    own Celery app, which revokes a cancelled job, broadcasts on that folder too, so a real
    girder_worker (tests/ui/worker.py) hears the cancel; else it talks to nobody."""
    from girder.models.setting import Setting

    Setting().set('worker.api_url', api_url)
    Setting().set('worker.broker', 'filesystem://' if revoke_folder else 'memory://')
    Setting().set('worker.backend', 'cache+memory://')
    if revoke_folder:
        from girder_worker.girder_plugin.celery import getCeleryApp

        getCeleryApp().conf.broker_transport_options = {
            'data_folder_in': revoke_folder, 'data_folder_out': revoke_folder,
            'control_folder': os.path.join(revoke_folder, 'control')}


def cli_descriptions(command: str) -> dict:
    """What ``PUT /slicer_cli_web/docker_image`` reads from an image: ``--list_cli``, and each
    listed CLI's ``--xml`` (slicer_cli_web/image_job.py does this with ``docker run``)."""
    argv = shlex.split(command)
    listed = json.loads(subprocess.run(argv + ['--list_cli'], check=True, capture_output=True,
                                       text=True).stdout)
    clis = {}
    for name, listing in listed.items():
        xml = subprocess.run(argv + [name, '--xml'], check=True, capture_output=True,
                             text=True).stdout
        clis[name] = dict(listing, xml=xml)
    return clis


def register_slicer_clis(specs: list[str], admin_login: str) -> None:
    """Store each IMAGE's CLIs through slicer_cli_web's models, then make its run endpoints."""
    import cherrypy
    from girder.models.collection import Collection
    from girder.models.folder import Folder
    from girder.models.setting import Setting
    from girder.models.user import User
    from slicer_cli_web.models import DockerImageItem

    admin = User().findOne({'login': admin_login})
    tasks = Collection().createCollection('Tasks', creator=admin, public=True,
                                          reuseExisting=True)
    folder = Folder().createFolder(tasks, 'Slicer CLI Web Tasks', parentType='collection',
                                   public=True, creator=admin, reuseExisting=True)
    Setting().set('slicer_cli_web.task_folder', str(folder['_id']))
    for spec in specs:
        image, command = spec.split('=', 1)
        # docker.models.images.Image: only .labels and .attrs are read
        docker_image = types.SimpleNamespace(labels={}, attrs={})
        DockerImageItem.saveImage(image, cli_descriptions(command), docker_image, admin, folder)
    api = cherrypy.tree.apps[''].root.api.v1
    api.slicer_cli_web.deleteImageEndpoints()
    api.slicer_cli_web._generateAllItemEndPoints()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--ready-file', required=True)
    parser.add_argument('--assetstore', required=True)
    parser.add_argument('--admin', default='admin:adminpassword')
    parser.add_argument('--plugins', default='large_image,large_image_annotation')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--slicer-cli', action='append', default=[], metavar='IMAGE=COMMAND')
    parser.add_argument('--worker-queue', default='')
    parser.add_argument('--worker-revoke', action='store_true',
                        help='send cancels to a real worker on the --worker-queue folder')
    parser.add_argument('--job-token-scope', default='',
                        help='extra scopes of the token a job gets (GIRDER_WORKER_JOB_GC_SCOPE)')
    args = parser.parse_args()

    use_mongomock()
    folder_annotations_without_let()
    if args.worker_queue:
        use_folder_broker(args.worker_queue)
    if args.job_token_scope:
        os.environ['GIRDER_WORKER_JOB_GC_SCOPE'] = args.job_token_scope
    import cherrypy
    from girder.models.assetstore import Assetstore
    from girder.models.user import User
    from girder.utility import server

    port = args.port or _free_port()
    cherrypy.config['database']['uri'] = 'mongodb://127.0.0.1:27017/girder'
    cherrypy.config['server.socket_host'] = '127.0.0.1'
    cherrypy.config['server.socket_port'] = port
    server.setup('testing', plugins=[p for p in args.plugins.split(',') if p])
    # plaintext password hashing: bcrypt makes every login cost ~0.2 s
    User()._cryptContext.scheme = 'plaintext'
    login, password = args.admin.split(':', 1)
    User().createUser(login=login, password=password, firstName='Admin', lastName='User',
                      email=login + '@example.org', admin=True)
    os.makedirs(args.assetstore, exist_ok=True)
    Assetstore().createFilesystemAssetstore(name='test', root=args.assetstore)
    api_url = 'http://127.0.0.1:%d/api/v1' % port
    if args.worker_queue:
        configure_worker_settings(api_url, args.worker_queue if args.worker_revoke else '')
    if args.slicer_cli:
        register_slicer_clis(args.slicer_cli, login)

    cherrypy.engine.signal_handler.subscribe()
    cherrypy.engine.start()
    cherrypy.engine.wait(cherrypy.engine.states.STARTED)
    info = {'port': port, 'apiUrl': api_url, 'pid': os.getpid()}
    tmp = args.ready_file + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(info, handle)
    os.replace(tmp, args.ready_file)
    cherrypy.engine.block()
    return 0


if __name__ == '__main__':
    sys.exit(main())
