"""A real Girder 3 HTTP server on 127.0.0.1 for the integration tests, with no MongoDB.

Runs in the Girder test environment (tests/girder/setup_env.sh). The database is mongomock,
inside this process; clients only talk HTTP to it, exactly as the task does with --api-url and
--girder-token. When listening it writes a JSON ready file ({"apiUrl", "port", "pid"}) and then
serves until SIGTERM.

    server.py --ready-file F --assetstore DIR [--admin LOGIN:PASSWORD] [--plugins a,b]
"""

import argparse
import json
import os
import socket
import sys

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--ready-file', required=True)
    parser.add_argument('--assetstore', required=True)
    parser.add_argument('--admin', default='admin:adminpassword')
    parser.add_argument('--plugins', default='large_image,large_image_annotation')
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args()

    use_mongomock()
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

    cherrypy.engine.signal_handler.subscribe()
    cherrypy.engine.start()
    cherrypy.engine.wait(cherrypy.engine.states.STARTED)
    info = {'port': port, 'apiUrl': 'http://127.0.0.1:%d/api/v1' % port, 'pid': os.getpid()}
    tmp = args.ready_file + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(info, handle)
    os.replace(tmp, args.ready_file)
    cherrypy.engine.block()
    return 0


if __name__ == '__main__':
    sys.exit(main())
