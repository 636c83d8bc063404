"""A FAISS index over every tissue cell of a collection, for archives too big to scan per query.

``PATH`` holds the FAISS index; ``PATH.json`` its provenance: the model, its revision, the grid
(tile, stride, scale), the kind of index, and per slide the cache's fingerprint (image
fingerprint + the zip CRC of its embeddings) and the id range of its cells, and the index
file's SHA-256 and vector count: an index that disagrees with them (vectors replaced, a file cut
short, an unreadable ``PATH.json``) is rebuilt from the caches, with one line. Updating adds the
slides that are new and drops the ones whose cache changed or left the collection (HNSW cannot
remove vectors: a drop rebuilds it; IVF-PQ removes them in place).

Vectors are unit embeddings, so the inner product is the cosine. Ids are
``slide_number << 32 | row * cols + col``; slide numbers are never reused. Candidates are
rescored exactly from the caches (:func:`.search.rescore`), so the scores a user sees are the
exact cosines, and only which cells are found depends on the index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import zipfile

import numpy as np

from ..atomic import write_bytes
from ..cache.store import load
from ..errors import InputError, first_line
from .search import TopK, rescore, searchable_cells

logger = logging.getLogger(__name__)

FORMAT = 'EmbeddingSimilarity.collection-index'
FORMAT_VERSION = 2
"""2: the provenance holds the index file's SHA-256 and vector count (an index of version 1
is rebuilt once)."""
FLAT_BELOW = 20000
"""Fewer vectors than this: an exact flat index (HNSW/IVF would only add approximation)."""
NPROBE_SHARE = 4
"""IVF-PQ searches a quarter of its lists (64 of ~630 found only 78 % of the true top 100 of
cells on a continuous tissue manifold in bench_collection.py)."""
HNSW_BELOW = 1_000_000
"""Fewer vectors than this: HNSW; more: IVF-PQ."""
CANDIDATES = 10
"""The index returns ``CANDIDATES * k`` cells, rescored exactly, of which the best k are kept
(IVF-PQ: ``4 * CANDIDATES * k``, its codes being coarser)."""


def faiss_module():
    try:
        import faiss
    except ImportError as exc:
        raise InputError("--index needs FAISS; install it with pip install 'faiss-cpu==1.15.1' "
                         "(or pip install 'EmbeddingSimilarity[index]')") from exc
    return faiss


def cache_fingerprint(path: str, image_fingerprint: str) -> str:
    """Identity of a cache's content: its image and the zip CRC of its embeddings."""
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo('embeddings.npy').CRC
    return '%s:%08x' % (image_fingerprint, crc)


@dataclasses.dataclass
class IndexedSlide:
    number: int
    name: str
    fingerprint: str
    cols: int
    cells: int


@dataclasses.dataclass
class CollectionIndex:
    """The FAISS index and its provenance."""

    path: str
    index: object
    kind: str
    model: dict
    grid: dict
    slides: dict[str, IndexedSlide]
    next_number: int = 0
    opened: dict = dataclasses.field(default_factory=dict, repr=False)
    """Caches mapped for rescoring, kept between queries."""

    def provenance(self) -> dict:
        return {'format': FORMAT, 'format_version': FORMAT_VERSION,
                'kind': self.kind, 'model': self.model, 'grid': self.grid,
                'next_number': self.next_number,
                'slides': {key: dataclasses.asdict(s) for key, s in self.slides.items()}}

    def save(self) -> None:
        """The index, then its provenance with the index file's checksum and vector count
        (written last: an index whose provenance was not written is rebuilt)."""
        faiss = faiss_module()
        raw = faiss.serialize_index(self.index).tobytes()
        write_bytes(self.path, raw)
        meta = dict(self.provenance(), index_sha256=hashlib.sha256(raw).hexdigest(),
                    vectors=int(self.index.ntotal))
        write_bytes(self.path + '.json', json.dumps(meta, indent=1, sort_keys=True))


def _describe(data) -> tuple[dict, dict]:
    model = data.provenance.model
    grid = data.provenance.grid
    scale = data.provenance.scale
    return ({'name': model.name, 'revision': model.resolved_revision or model.revision,
             'embed_dim': model.embed_dim, 'pooling': model.pooling},
            {'tile': grid.tile, 'stride': grid.stride,
             'mpp': scale.mpp if scale else None,
             'magnification': scale.magnification if scale else None})


def _vectors(path: str, threshold: float, number: int):
    """Unit float32 vectors of a cache's searchable cells, their ids, and the slide record."""
    data = load(path)
    cells = np.flatnonzero(searchable_cells(data, threshold).ravel())
    flat = data.embeddings.reshape(-1, data.embeddings.shape[-1])
    vectors = np.asarray(flat[cells], dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    ids = (np.int64(number) << 32) | cells.astype(np.int64)
    return data, vectors, ids


def _new_index(kind: str, dim: int, sample: np.ndarray, total: int):
    faiss = faiss_module()
    if kind == 'flat':
        index = faiss.IndexFlatIP(dim)
    elif kind == 'hnsw':
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
    else:
        nlist = int(np.clip(np.sqrt(total), 64, 1024))
        # 8 dimensions per sub-quantiser (192 bytes a cell at 1536 dimensions): 64-byte codes
        # lost half the true top 100 in bench_collection.py
        m = next(m for m in range(max(1, dim // 8), 0, -1) if dim % m == 0)
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(sample)
        index.nprobe = max(1, nlist // NPROBE_SHARE)
    return faiss.IndexIDMap2(index)


def choose_kind(vectors: int) -> str:
    return 'flat' if vectors < FLAT_BELOW else 'hnsw' if vectors < HNSW_BELOW else 'ivfpq'


def open_index(path: str) -> tuple[CollectionIndex | None, str]:
    """The index at ``path`` when it agrees with its provenance (``PATH.json``: the index
    file's SHA-256 and vector count, each slide's cells); else None and why not (empty when
    there is no index yet)."""
    if not (os.path.isfile(path) and os.path.isfile(path + '.json')):
        return None, ''
    faiss = faiss_module()
    try:
        with open(path + '.json', 'rb') as handle:
            meta = json.loads(handle.read())
        with open(path, 'rb') as handle:
            raw = handle.read()
        if meta.get('format_version') != FORMAT_VERSION or 'index_sha256' not in meta:
            return None, 'was written by another version (no checksum of its vectors)'
        if hashlib.sha256(raw).hexdigest() != meta['index_sha256']:
            return None, ('does not match the checksum in %s.json (changed or cut short)'
                          % os.path.basename(path))
        slides = {key: IndexedSlide(**value) for key, value in meta['slides'].items()}
        index = CollectionIndex(path, faiss.deserialize_index(np.frombuffer(raw, np.uint8)),
                                meta['kind'], meta['model'], meta['grid'], slides,
                                int(meta['next_number']))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        return None, 'or its provenance %s.json cannot be read (%s)' % (
            os.path.basename(path), first_line(exc, 120) or type(exc).__name__)
    cells = sum(slide.cells for slide in slides.values())
    if not index.index.ntotal == meta.get('vectors') == cells:
        return None, ('holds %d vectors where its provenance counts %d'
                      % (index.index.ntotal, cells))
    return index, ''


def build_or_update(path: str, caches: dict[str, tuple[str, str]], threshold: float,
                    kind: str = '') -> tuple[CollectionIndex, dict[str, int]]:
    """Bring the index at ``path`` up to date with ``caches`` (key -> (cache path, image
    fingerprint)); what changed: added, dropped, kept slides."""
    fingerprints = {key: cache_fingerprint(p, f) for key, (p, f) in caches.items()}
    current, damage = open_index(path)
    if damage:
        logger.warning('index %s %s; rebuilding it from the caches', path, damage)
    if current is not None:
        sample = load(next(iter(caches.values()))[0])
        model, grid = _describe(sample)
        if (current.model, current.grid) != (model, grid) or (kind and kind != current.kind):
            logger.info('index %s was built for another model, grid or kind; rebuilding', path)
            current = None
    stale = [] if current is None else [
        key for key, slide in current.slides.items() if fingerprints.get(key) != slide.fingerprint]
    if current is not None and stale and current.kind == 'hnsw':
        logger.info('%d slides changed and HNSW cannot drop vectors; rebuilding', len(stale))
        current = None
    if current is None:
        return _build(path, caches, fingerprints, threshold, kind)
    for key in stale:
        slide = current.slides.pop(key)
        current.index.remove_ids(_id_range(slide.number))
    added = [key for key in caches if key not in current.slides]
    for key in added:
        _add(current, key, caches[key][0], fingerprints[key], threshold)
    current.save()
    return current, {'added': len(added), 'dropped': len(stale),
                     'kept': len(current.slides) - len(added)}


def _id_range(number: int):
    faiss = faiss_module()
    return faiss.IDSelectorRange(number << 32, (number + 1) << 32)


def _add(index: CollectionIndex, key: str, path: str, fingerprint: str, threshold: float) -> None:
    number = index.next_number
    data, vectors, ids = _vectors(path, threshold, number)
    if len(vectors):
        index.index.add_with_ids(vectors, ids)
    index.slides[key] = IndexedSlide(number, data.provenance.image.name, fingerprint,
                                     data.grid.cols, len(ids))
    index.next_number += 1


def _build(path: str, caches: dict[str, tuple[str, str]], fingerprints: dict[str, str],
           threshold: float, kind: str) -> tuple[CollectionIndex, dict[str, int]]:
    first = load(next(iter(caches.values()))[0])
    model, grid = _describe(first)
    counts = [int(searchable_cells(load(p), threshold).sum()) for p, _ in caches.values()]
    kind = kind or choose_kind(sum(counts))
    sample = np.empty((0, model['embed_dim']), np.float32)
    if kind == 'ivfpq':
        rng = np.random.default_rng(0)
        parts = []
        for p, _ in caches.values():
            _, vectors, _ = _vectors(p, threshold, 0)
            take = min(len(vectors), max(1, 50_000 // len(caches)))
            parts.append(vectors[rng.choice(len(vectors), take, replace=False)])
        sample = np.concatenate(parts)
    inner = _new_index(kind, model['embed_dim'], sample, sum(counts))
    index = CollectionIndex(path, inner, kind, model, grid, {})
    for key, (p, _) in caches.items():
        _add(index, key, p, fingerprints[key], threshold)
    index.save()
    return index, {'added': len(caches), 'dropped': 0, 'kept': 0}


def search_index(index: CollectionIndex, query: np.ndarray, k: int, keys: list[str],
                 paths: list[str]) -> TopK:
    """The index's candidates for ``query``, rescored exactly; targets are positions in
    ``keys`` (the collection's targets, whose caches are ``paths``)."""
    faiss = faiss_module()
    inner = faiss.downcast_index(index.index.index)
    if index.kind == 'hnsw':
        inner.hnsw.efSearch = max(128, 2 * CANDIDATES * k)
    wanted = min(index.index.ntotal, CANDIDATES * k * (4 if index.kind == 'ivfpq' else 1))
    _, ids = index.index.search(np.asarray(query, np.float32)[None, :], wanted)
    ids = ids[0][ids[0] >= 0]
    by_number = {slide.number: (position, index.slides[key].cols)
                 for position, key in enumerate(keys) if key in index.slides
                 for slide in [index.slides[key]]}
    numbers, cells = ids >> 32, ids & 0xFFFFFFFF
    known = np.array([int(n) in by_number for n in numbers], dtype=bool)
    numbers, cells = numbers[known], cells[known]
    targets = np.array([by_number[int(n)][0] for n in numbers], dtype=np.int64)
    cols = np.array([by_number[int(n)][1] for n in numbers], dtype=np.int64)
    rows, columns = np.divmod(cells, np.maximum(cols, 1))
    scores = rescore(paths, query, targets, rows, columns, index.opened)
    top = TopK(k)
    ok = np.isfinite(scores)
    top.add(scores[ok], targets[ok], rows[ok], columns[ok])
    return top
