"""A Docker API socket that forwards to another one and keeps every request it carried.

    python docker_tee.py LISTEN.sock TARGET.sock REQUESTS.log

girder_worker and Slicer CLI Web talk to ``DOCKER_HOST``; pointed at LISTEN.sock, their calls
reach podman's socket (TARGET.sock) unchanged, and the bytes they sent are appended to
REQUESTS.log. The tests read the ``POST /containers/create`` bodies there: what the worker asked
for (e.g. a GPU device request), whatever the engine made of it (podman without a GPU drops it).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

DOCKER_STOP_SECONDS = 10
"""Docker's default stop timeout (a container created without ``StopTimeout``)."""
_STOP = re.compile(rb'^(POST /[^ ?]*/containers/[^/ ?]+/stop)( HTTP/1\.[01]\r\n)', re.M)


def as_docker(request: bytes) -> bytes:
    """``request`` with a stop timeout added where Docker would apply its default."""
    return _STOP.sub(rb'\1?t=%d\2' % DOCKER_STOP_SECONDS, request)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log=None) -> None:
    try:
        while data := await reader.read(65536):
            if log is not None:  # the client's side: keep it, and send it as Docker reads it
                log.write(data)
                log.flush()
                data = as_docker(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(listen: str, target: str, log_path: str) -> None:
    log = open(log_path, 'ab')  # noqa: SIM115 - open for the life of the proxy

    async def serve(client_reader, client_writer):
        engine_reader, engine_writer = await asyncio.open_unix_connection(target)
        await asyncio.gather(_pump(client_reader, engine_writer, log),
                             _pump(engine_reader, client_writer))

    if os.path.exists(listen):
        os.unlink(listen)
    server = await asyncio.start_unix_server(serve, path=listen)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    asyncio.run(main(*sys.argv[1:4]))
