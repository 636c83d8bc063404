"""Scale-out on a Dask cluster, as HistomicsTK's CLIs do.

The cells to embed are split into blocks of neighbouring cells. Each block is a task: the worker
opens the slide itself, loads the model once per worker process (kept for later blocks), and
returns the block's float16 embeddings; the client puts them into the grid as they arrive and
checkpoints like the in-process run. Each tile's embedding does not depend on which batch it
was in, so the grid equals the in-process one.

``scheduler``: empty = no Dask (in-process); ``local`` = a LocalCluster of ``num_workers``
processes; anything else is the address of a running scheduler (``tcp://host:8786``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import InputError
from ..models.spec import ModelSpec
from ..progress import Progress
from ..slide.tiling import TileGrid

logger = logging.getLogger(__name__)

_WORKER_ENGINES: dict[tuple, Any] = {}


SCHEDULER_FORMS = 'local, tcp://HOST:PORT, tls://HOST:PORT or HOST:PORT'
_ADDRESS = re.compile(r'^((tcp|tls|ucx|inproc)://)?[\w.\-\[\]:]+:(?P<port>\d{1,5})$')


def check_scheduler(scheduler: str) -> None:
    """The --scheduler value has one of the accepted forms (an InputError says which they are)."""
    if not scheduler or scheduler == 'local':
        return
    match = _ADDRESS.match(scheduler)
    if not match or not 0 < int(match.group('port')) < 65536:
        raise InputError('--scheduler %r is not a Dask scheduler address; use %s (PORT 1 to '
                         '65535), or leave it empty to run in this process'
                         % (scheduler, SCHEDULER_FORMS))
    if scheduler.startswith('tls://'):
        _check_tls_config(scheduler)


def _check_tls_config(scheduler: str) -> None:
    """A ``tls://`` scheduler needs Dask's TLS settings (its CA file at least), or Client()
    fails with a TypeError after the slide's planning."""
    import dask.config

    if not dask.config.get('distributed.comm.tls.ca-file', None):
        raise InputError('--scheduler %s uses TLS, but no Dask TLS settings are configured; set '
                         'distributed.comm.tls.ca-file and the client certificate and key (e.g. '
                         'DASK_DISTRIBUTED__COMM__TLS__CA_FILE), or use tcp://' % scheduler)


@contextlib.contextmanager
def dask_client(scheduler: str, num_workers: int = -1,
                threads_per_worker: int = 1) -> Iterator[Any]:
    """A Dask client for ``scheduler``, closed (with its local cluster) on exit."""
    client = make_client(scheduler, num_workers, threads_per_worker)
    try:
        yield client
    finally:
        close_client(client)


def make_client(scheduler: str, num_workers: int = -1, threads_per_worker: int = 1):
    """A Dask client for ``scheduler`` (see the module docstring); closes with ``client.close``.

    A negative ``num_workers`` means the machine's cores minus that many (at least one).
    """
    check_scheduler(scheduler)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError('--scheduler needs dask.distributed; install it with pip install '
                         "'distributed'") from exc
    quiet_dask()
    if threads_per_worker < 1:
        raise InputError('threads per worker must be at least 1, got %d' % threads_per_worker)
    if scheduler == 'local':
        cores = os.cpu_count() or 1
        workers = num_workers if num_workers > 0 else max(1, cores + num_workers)
        # the worker processes read their logging levels from the environment at import; a
        # task's error reaches the client as its exception, so theirs would only repeat it,
        # or be the heartbeat a worker misses while the cluster closes
        os.environ.setdefault('DASK_LOGGING__DISTRIBUTED', 'critical')
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                               processes=True, dashboard_address=None)
        return Client(cluster)
    probe_scheduler(scheduler, CONNECT_SECONDS)
    try:
        return Client(scheduler, timeout=CONNECT_SECONDS)
    except (OSError, TypeError, ValueError) as exc:  # TypeError: TLS settings Dask rejects
        raise InputError('cannot reach the Dask scheduler at %s (%s); check --scheduler, or '
                         'leave it empty to run in-process' % (scheduler, exc)) from exc


CONNECT_SECONDS = 10


def quiet_dask(level: int | None = None) -> None:
    """Only Dask's errors reach the log (``--debug``: its warnings too). Importing distributed
    sets its own levels (INFO: some 45 lines a run, and a ``CommClosedError`` traceback when
    the client leaves), so they are set again after the import; ``level`` another level (a
    closing cluster's: critical)."""
    debug = logging.getLogger('EmbeddingSimilarity').isEnabledFor(logging.DEBUG)
    level = logging.WARNING if debug else level or logging.ERROR
    for name in list(logging.root.manager.loggerDict):
        if name.split('.')[0] in ('distributed', 'tornado', 'bokeh'):
            logging.getLogger(name).setLevel(level)
    logging.getLogger('distributed').setLevel(level)


def probe_scheduler(address: str, seconds: float) -> None:
    """Refuse a TCP scheduler address that accepts the connection and stays silent.

    A Dask scheduler sends its handshake as soon as it accepts a connection; ``Client()`` waits
    for it without a bound, so something else listening there (or a frozen scheduler) would
    hang the run. A refused connection is left to ``Client``, which fails in ``seconds``;
    ``tls://`` waits for the client to speak first and is not probed.
    """
    import socket

    if address.startswith('tls://'):
        return
    host, _, port = address.removeprefix('tcp://').rpartition(':')
    try:
        connection = socket.create_connection((host.strip('[]'), int(port)), timeout=seconds)
    except (OSError, ValueError):
        return
    with connection:
        connection.settimeout(seconds)
        try:
            connection.recv(1)
        except TimeoutError:
            raise InputError('the Dask scheduler at %s accepted the connection but did not '
                             'answer within %g s; is it a Dask scheduler (dask scheduler '
                             '--port ...)? Check --scheduler, or leave it empty to run '
                             'in-process' % (address, seconds)) from None
        except OSError:
            return


def close_client(client) -> None:
    cluster = getattr(client, 'cluster', None)
    quiet_dask(logging.CRITICAL)  # closing races (a stream closed mid-heartbeat) are no news
    client.close()
    if cluster is not None:
        cluster.close()


def split_cells(todo: np.ndarray, parts: int, minimum: int) -> list[np.ndarray]:
    """The ``(row, col)`` cells of ``todo`` in row-major order, cut into about ``parts`` blocks
    of at least ``minimum`` cells (neighbouring cells stay together, so reads are shared)."""
    cells = np.argwhere(todo)
    if not len(cells):
        return []
    size = max(minimum, -(-len(cells) // max(1, parts)))
    return [cells[start:start + size] for start in range(0, len(cells), size)]


def embed_block(image: str, spec: ModelSpec, grid: dict, cells: np.ndarray, batch_size: int,
                device: str, precision: str, threads: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Worker task: the float16 embeddings of ``cells`` of ``image``, and where they ran.

    ``device`` and ``precision`` are the user's requests (``auto`` resolves on the worker).
    """
    import torch

    from ..slide.reader import iter_batches
    from ..slide.source import open_slide
    from .build import load_engine

    torch.set_num_threads(max(1, threads))
    key = (repr(spec), device, precision, batch_size)
    engine = _WORKER_ENGINES.get(key)
    if engine is None:
        engine = load_engine(spec, device, precision, batch_size)
        _WORKER_ENGINES.clear()  # one model per worker process
        _WORKER_ENGINES[key] = engine
    tile_grid = TileGrid(**grid)
    wanted = np.zeros(tile_grid.shape, dtype=bool)
    wanted[cells[:, 0], cells[:, 1]] = True
    out_cells, out = [], []

    def keep(batch_cells: np.ndarray, embeddings: np.ndarray) -> None:
        out_cells.append(batch_cells)
        out.append(embeddings.astype(np.float16))
    engine.run(iter_batches(open_slide(image), tile_grid, wanted, batch_size, workers=1), keep)
    return np.concatenate(out_cells), np.concatenate(out), engine.describe()


def embed_distributed(client, image: str, spec: ModelSpec, grid: TileGrid, todo: np.ndarray,
                      batch_size: int, device: str, precision: str, threads: int,
                      keep: Callable[[np.ndarray, np.ndarray], None],
                      progress: Progress) -> dict:
    """Embed the ``todo`` cells on the cluster, handing each finished block to ``keep``;
    returns the device and precision the workers used."""
    from dask.distributed import as_completed

    workers = max(1, len(client.scheduler_info().get('workers', {})))
    blocks = split_cells(todo, parts=workers * 4, minimum=batch_size)
    logger.info('embedding %d cells in %d blocks on %d Dask workers', int(todo.sum()),
                len(blocks), workers)
    futures = [client.submit(embed_block, os.path.abspath(image), spec, grid.to_dict(), block,
                             batch_size, device, precision, threads, pure=False)
               for block in blocks]
    ran: dict = {}
    try:
        for future in as_completed(futures):
            cells, embeddings, ran = future.result()
            keep(cells, embeddings)
            progress.advance(len(cells))
    finally:
        for future in futures:
            future.cancel()
    return ran


def run_tasks(client, task: Callable[[Any], Any], requests: list) -> list:
    """Multi-slide mode: ``task(request)`` for each request on the cluster, e.g. one whole
    in-process run per slide; ``(request, result, error)`` in the order they finish."""
    from dask.distributed import as_completed

    futures = {client.submit(task, request, pure=False): request for request in requests}
    results = []
    for future in as_completed(futures):
        request = futures[future]
        try:
            results.append((request, future.result(), None))
        except Exception as exc:  # one bad slide must not stop the others
            results.append((request, None, exc))
    return results

