"""Finding, reusing and saving embedding grids: the given input file, the output and its
``.partial`` checkpoint, and the user's Girder cache folder.

A given input file that does not match the run is an error (the user asked for it); a stale
output, checkpoint or Girder cache is simply recomputed.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

import numpy as np

from ..errors import CacheError, GirderError, OutputError
from ..slide.source import file_fingerprints, file_stat
from . import interop, store
from .provenance import ImageRecord, Provenance

if TYPE_CHECKING:
    from ..girder.session import GirderSession

logger = logging.getLogger(__name__)


def partial_path(output: str) -> str:
    """Where the checkpoint of an interrupted run that writes ``output`` is kept."""
    return output + '.partial'


def candidate_paths(input_embeddings: str, output_embeddings: str) -> list[str]:
    """The local caches :func:`find_local` tries, in its order."""
    if input_embeddings:
        return [input_embeddings]
    if not output_embeddings:
        return []
    return [output_embeddings, partial_path(output_embeddings)]


def known_image(image_path: str, input_embeddings: str,
                output_embeddings: str) -> ImageRecord | None:
    """The image record of a local cache of this very slide that carries what a plan needs, so
    the run can plan without opening the slide; None when there is none.

    The slide is the cached one when its ``stat`` signature equals the stored one (nothing is
    read), or else when its fingerprint, recomputed, equals the stored fingerprint (the record
    returned then carries the new signature). Whether the cache then serves the run (model,
    grid) is still decided by :func:`find_local`.
    """
    try:
        stat = file_stat(image_path)
    except (OSError, TypeError, ValueError):
        return None
    fingerprint = None
    for path in candidate_paths(input_embeddings, output_embeddings):
        meta = store.read_meta(path)
        try:
            image = ImageRecord(**{key: value for key, value in meta['image'].items()
                                   if key in ImageRecord.__dataclass_fields__})
        except (KeyError, TypeError, AttributeError):
            continue
        metadata = image.metadata
        if not isinstance(metadata, dict) or not all(
                isinstance(metadata.get(key), int) and metadata[key] > 0
                for key in ('sizeX', 'sizeY')):
            continue  # an older cache: the slide is opened for its metadata
        if image.stat == stat:
            return image
        if fingerprint is None:
            try:
                fingerprint = file_fingerprints(image_path)
            except OSError:
                return None
        if image.fingerprint in fingerprint:  # this version's, or one written by 0.1
            image.stat = stat
            return image
    return None


def find_local(input_embeddings: str, output_embeddings: str, wanted: Provenance
               ) -> tuple[store.EmbeddingGrid | None, str | None]:
    """A cache that can serve the run: the given input file, the output, or its checkpoint
    (:func:`candidate_paths`)."""
    if input_embeddings:
        data = interop.load(input_embeddings, wanted)
        problem = data.provenance.mismatch(wanted)
        if problem:
            raise CacheError('embedding file %s does not match this run: %s; drop '
                             '--input-embeddings or use the same model, tile size, stride and '
                             'scale' % (input_embeddings, problem))
        return data, input_embeddings
    for path in candidate_paths(input_embeddings, output_embeddings):
        if not os.path.isfile(path):
            continue
        try:
            data = interop.load(path, wanted)
        except CacheError as exc:
            logger.warning('ignoring %s: %s', path, exc)
            continue
        problem = data.provenance.mismatch(wanted)
        if problem:
            logger.info('existing %s was made differently (%s); recomputing', path, problem)
            continue
        return data, path
    return None, None


def find_in_girder(session: GirderSession, wanted: Provenance,
                   folder: str) -> tuple[store.EmbeddingGrid | None, str | None]:
    """A matching cache from the user's Girder cache folder, downloaded into ``folder``."""
    name = wanted.cache_name()
    names = [name] + ([wanted.cache_name(wanted.image.legacy_fingerprint)]
                      if wanted.image.legacy_fingerprint else [])  # a cache written by 0.1
    try:
        found = session.find_cached_embeddings(name, wanted.cache_name_ending())
        for candidate in names[1:]:
            found = found or session.find_cached_embeddings(candidate)
        if found is None:
            return None, None
        path = os.path.join(folder, name)
        session.download_file(found['_id'], path)
        data = store.load(path)
    except (GirderError, CacheError) as exc:
        logger.warning('not using the Girder embedding cache: %s', exc)
        return None, None
    problem = data.provenance.mismatch(wanted)
    if problem:
        logger.info('Girder cache %s was made differently (%s); recomputing', name, problem)
        return None, None
    return data, 'girder:file/%s' % found['_id']


def find_peer_in_girder(session: GirderSession, image_name: str, folder: str) -> str:
    """Another tool's feature file of the image in the user's Girder cache folder (TRIDENT's
    and STAMP's ``<stem>.h5``), downloaded into ``folder``; '' when there is none."""
    name = os.path.splitext(image_name)[0] + '.h5'
    try:
        found = session.find_cached_embeddings(name)
        if found is None:
            return ''
        path = os.path.join(folder, name)
        session.download_file(found['_id'], path)
    except GirderError as exc:
        logger.warning('not using the Girder cache folder\'s %s: %s', name, exc)
        return ''
    if not interop.is_peer(path):
        logger.warning('ignoring %s in the Girder cache folder: not a TRIDENT or STAMP feature '
                       'file', name)
        return ''
    logger.info('using %s from the Girder cache folder', name)
    return path


def empty_grid(wanted: Provenance) -> store.EmbeddingGrid:
    """A grid with no cell embedded yet."""
    grid = wanted.grid
    return store.EmbeddingGrid(
        embeddings=np.zeros((grid.rows, grid.cols, wanted.model.embed_dim), dtype=np.float16),
        embedded=np.zeros(grid.shape, dtype=bool), tissue_fraction=None, provenance=wanted)


class Checkpointer:
    """Puts finished embeddings into the grid and saves ``<output>.partial`` every
    ``interval`` seconds (and on :meth:`flush`), so an interrupted run resumes."""

    def __init__(self, data: store.EmbeddingGrid, output: str, interval: float,
                 embed_dim: int, model_name: str) -> None:
        self.data = data
        self.path = partial_path(output) if output else ''
        self.interval = interval
        self.embed_dim = embed_dim
        self.model_name = model_name
        self.last_save = time.monotonic()

    def keep(self, cells: np.ndarray, embeddings: np.ndarray) -> None:
        if embeddings.shape[1] != self.embed_dim:
            from ..errors import InputError

            raise InputError('model %s gave %d-dimensional embeddings where its record says %d; '
                             'fix the model record or pooling' % (
                                 self.model_name, embeddings.shape[1], self.embed_dim))
        self.data.embeddings[cells[:, 0], cells[:, 1]] = embeddings.astype(np.float16)
        self.data.embedded[cells[:, 0], cells[:, 1]] = True
        if self.path and time.monotonic() - self.last_save >= self.interval:
            self.flush()

    def interrupted(self) -> str:
        """Save the checkpoint after an interruption; say exactly what was kept and where
        (no checkpoint of an empty grid: it would hold nothing but megabytes of zeros)."""
        cells = int(self.data.embedded.sum())
        if cells:
            self.flush()
        return interrupted_line(cells, self.path)

    def flush(self) -> None:
        """Save what is embedded so far as an incomplete cache (nothing without an output)."""
        if not self.path:
            return
        self.data.provenance.complete = False
        store.save(self.path, self.data)
        self.data.provenance.complete = True
        self.last_save = time.monotonic()


def interrupted_line(cells: int, path: str, in_girder: bool = False) -> str:
    """What an interrupted run kept, and where (the CLI's one line after "interrupted; ")."""
    places = (['in %s' % path] if path else []) + (['in the Girder cache'] if in_girder else [])
    if not cells:
        return 'stopped before any cell was embedded; nothing was saved'
    if not places:
        return ('%d embedded cells were not saved (no --output-embeddings); the next run starts '
                'over' % cells)
    return ('%d embedded cells are kept %s; the next run with the same settings resumes from '
            'them' % (cells, ' and '.join(places)))


def save_local(output: str, data: store.EmbeddingGrid) -> None:
    """Write the finished grid to ``output`` (in the layout its name asks for, see
    :func:`.interop.save`) and drop its checkpoint."""
    interop.save(output, data)
    checkpoint = partial_path(output)
    if os.path.exists(checkpoint):
        os.unlink(checkpoint)


def upload_to_girder(session: GirderSession, data: store.EmbeddingGrid, path: str) -> str:
    """Store the saved grid ``path`` in the user's Girder cache folder; the file id."""
    provenance = data.provenance
    meta = data.meta
    return session.store_cached_embeddings(
        path, provenance.cache_name(),
        {'image': meta['image'], 'model': provenance.model.name, 'grid': meta['grid'],
         'format_version': store.FORMAT_VERSION})


def checkpoint_to_girder(session: GirderSession, data: store.EmbeddingGrid, folder: str) -> bool:
    """Cache an interrupted run's grid in Girder, marked incomplete, so the next job resumes
    from it (a cancelled DSA job loses its local files); whether it worked."""
    data.provenance.complete = False
    path = os.path.join(folder, 'checkpoint.npz')
    try:
        store.save(path, data)
        upload_to_girder(session, data, path)
    except (GirderError, OutputError) as exc:
        logger.warning('the finished cells were not cached in Girder: %s', exc)
        return False
    finally:
        data.provenance.complete = True
    return True
