"""The query of a collection search: the checks of what was asked (key points, the folder, how
many matches) and the unit query vector, from the query image's cache or by embedding only the
cells under the key points."""

from __future__ import annotations

import logging
import os

import numpy as np

from ..cache import store
from ..errors import InputError, for_admin, missing, why_missing
from ..girder.options import GIRDER_ID
from ..progress import Progress
from ..query.cells import tissue_wanted
from ..query.similarity import query_vector
from ..steps.plan import make_plan
from ..steps.request import Request
from .search import check_top_k
from .targets import find_cache

logger = logging.getLogger(__name__)


def searches_in_words(request: Request) -> Request:
    """A text search needs no query slide: the folder of slides can stand in its place
    (``CollectionSimilarity SLIDES --text-queries ...``), and is then the collection."""
    image, collection = request.image, request.search.collection
    if not os.path.isdir(image) or (collection and not _same(collection, image)):
        return request  # a slide (a multi-file slide may be a folder) and its collection
    if request.query.keypoints or request.query.negative_keypoints:
        raise InputError('%s is a folder: key points need a query slide; give a slide as the '
                         'first argument and the folder as --collection, or search in words '
                         'with --text-queries' % image)
    if not request.query.text_queries.strip():
        raise InputError('%s is a folder: to search it without a query slide give '
                         '--text-queries; to search it for tissue like a slide\'s, give the '
                         'slide as the first argument and the folder as --collection' % image)
    return request.but(collection=image)


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def check_collection(request: Request, girder: bool = False) -> None:
    check_top_k(request.search.top_k)
    regions = request.query.key_regions + request.query.negative_regions
    if regions:
        raise InputError('CollectionSimilarity takes key points, not regions (%d '
                         'rectangle(s) or polygon(s) given); click points on the tissue to find '
                         'instead (e.g. --keypoints 1200,3400; several points are averaged), or '
                         'use EmbeddingSimilarity to search one slide with a region' % len(regions))
    if not request.query.keypoints and not request.query.text_queries.strip():
        raise InputError(for_admin('nothing to look for: click a point on the tissue, or type '
                                   'words, then Submit', 'CollectionSimilarity needs at least one '
                                   'key point on the query image (e.g. --keypoints 1200,3400) '
                                   'or --text-queries'))
    if not request.search.collection:
        raise InputError(for_admin('choose the folder of slides to search ("Folder of slides '
                                   'to search"), then Submit', '--collection is required'))
    if girder and not GIRDER_ID.fullmatch(request.search.collection):
        raise InputError('--collection %r is neither a local folder nor a Girder folder id (24 '
                         'hexadecimal characters); give the folder\'s path or copy its id from '
                         'its Girder page' % request.search.collection[:80])
    if not girder and why_missing(request.search.collection) not in ('', 'does not exist'):
        raise InputError(missing('collection', request.search.collection))
    if not girder and not os.path.isdir(request.search.collection):
        raise InputError('collection %s is not a folder; give the folder of slides to search'
                         % request.search.collection)
    if request.search.embeddings_folder and not os.path.isdir(request.search.embeddings_folder):
        raise InputError(missing('embeddings folder', request.search.embeddings_folder,
                                 'create it or leave it empty'))


def query_of(request: Request, progress: Progress) -> tuple[np.ndarray, str]:
    """The unit query from the key points; the query image's cache when it has one, else only
    the key points' cells are embedded. Also the query image's fingerprint. A text query (no
    key point) is the text tower's direction: the query image is not read."""
    if not request.query.keypoints and not request.query.negative_keypoints:
        return text_query(request), ''
    plan = make_plan(request)
    grid = plan.grid
    cells = grid.cells_of_points(request.query.keypoints)
    negatives = grid.cells_of_points(request.query.negative_keypoints)
    wanted = cells + negatives
    path, _ = find_cache(request, request.image, plan.provenance)
    if path:
        data = store.load(path)
        ok = data.embedded & tissue_wanted(data.tissue_fraction, request.tiling.tissue_threshold)
        _check_on_tissue(request, wanted, ok)
        logger.info('query from the cache %s', path)
        return (_direction(request, data.embeddings, cells, negatives),
                plan.provenance.image.fingerprint)
    from ..slide.tissue import tissue_fractions

    _check_on_tissue(request, wanted, tissue_wanted(tissue_fractions(plan.source, grid),
                                                     request.tiling.tissue_threshold))
    # float16, as a cache stores them: the same query whether or not the image has a cache
    embeddings = np.zeros((grid.rows, grid.cols, plan.spec.embed_dim), dtype=np.float16)
    todo = np.zeros(grid.shape, dtype=bool)
    for cell in wanted:
        todo[cell] = True
    from ..engine.build import load_engine
    from ..slide.reader import iter_batches

    progress.start('query', total=int(todo.sum()),
                   comment='embedding the %d key-point cells' % int(todo.sum()))
    options = request.engine
    engine = load_engine(plan.spec, options.device, options.precision, options.batch_size)

    def keep(batch_cells: np.ndarray, vectors: np.ndarray) -> None:
        embeddings[batch_cells[:, 0], batch_cells[:, 1]] = vectors
    engine.run(iter_batches(plan.source, grid, todo, request.engine.batch_size, 1), keep, progress)
    progress.end()
    return _direction(request, embeddings, cells, negatives), plan.provenance.image.fingerprint


def text_query(request: Request) -> np.ndarray:
    """The unit direction of the prompts (minus the negative ones), as the prototype scorer
    makes it: only the model's text tower loads."""
    return _direction(request, np.zeros((0, 0, 0), dtype=np.float32), [], [])


def _direction(request: Request, embeddings: np.ndarray, cells: list, negatives: list
               ) -> np.ndarray:
    """The unit query of the key points' cells and the prompts, each point and each prompt
    weighing the same (as EmbeddingSimilarity's prototype); key points alone keep the plain
    mean-of-unit-embeddings query."""
    if not request.query.text_queries.strip():
        return query_vector(embeddings, cells, negatives)
    from ..models import get_spec
    from ..models.text import prompt_vectors, split_prompts
    from ..query.scorer import prototype

    engine = request.engine
    spec = get_spec(engine.model, engine.pooling or None, engine.trust_remote_code)
    texts = prompt_vectors(spec, split_prompts(request.query.text_queries))
    negative_texts = prompt_vectors(spec, split_prompts(request.query.negative_text_queries,
                                                        '--negative-text-queries'))
    logger.info('query from %d prompt(s) through the text tower of %s%s', len(texts), spec.name,
                ' and %d key point(s)' % len(cells) if cells else '')
    if not cells and not negatives:
        embeddings = np.zeros((0, 0, spec.embed_dim), dtype=np.float32)
    return prototype(embeddings, [[cell] for cell in cells], [[cell] for cell in negatives],
                     texts, negative_texts).direction


def _check_on_tissue(request: Request, cells: list, tissue: np.ndarray) -> None:
    points = request.query.keypoints + request.query.negative_keypoints
    for (x, y), cell in zip(points, cells, strict=True):
        if not tissue[cell]:
            raise InputError(for_admin(
                'key point (%g, %g) is on glass: click on the tissue itself, or open "Tiling '
                'and scale" and lower Tissue Threshold' % (x, y),
                'cell %d, %d has less than %g tissue (--tissue-threshold)'
                % (*cell, request.tiling.tissue_threshold)))
