"""The Girder side of a collection search: the folder's items as targets (their image files
fetched into a scratch folder, their caches looked up in the user's Girder cache folder, new
caches uploaded there), a HistomicsUI link per match, and a heatmap for the query on every slide
with a match, on one fixed cosine scale shared by all slides and updated in place by the next
query from the same image under the same annotation name.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from .. import __version__
from ..cache import local as cache
from ..cache import store
from ..errors import GirderError, UserError
from ..girder.session import GirderSession
from ..query.similarity import SimilarityMap, cosine_map
from ..render.annotation import build_annotation
from ..render.colours import parse_colormap, parse_colour
from ..steps.request import Request
from .search import TopK, searchable_cells
from .targets import Target

logger = logging.getLogger(__name__)

COLLECTION_ATTRIBUTE = 'CollectionSimilarity'
"""Key of the collection heatmaps' attributes (so EmbeddingSimilarity never updates them)."""
SCORE_RANGE = (0.0, 1.0)
"""The fixed cosine range every slide's heatmap is drawn on (not per-slide quantiles)."""


def histomics_url(api_url: str, item_id: str) -> str:
    """HistomicsUI's address of the item."""
    base = api_url.rstrip('/')
    base = base[:-len('/api/v1')] if base.endswith('/api/v1') else base
    return '%s/histomics#?image=%s' % (base, item_id)


def girder_targets(session: GirderSession, request: Request, scratch: str) -> list[Target]:
    """The folder's items, each image file downloaded into ``scratch``; the query item flagged
    (added when outside the folder)."""
    image_id = request.girder.image_id
    query_item = session.resolve_item(image_id)['_id'] if image_id else ''
    targets = []
    for item in session.folder_items(request.search.collection):
        target = Target(path='', name=item['name'], item_id=item['_id'],
                        is_query=item['_id'] == query_item,
                        url=histomics_url(session.api_url, item['_id']))
        try:
            found = session.item_file(item)
            if found is None:
                raise GirderError('item %s has no file' % item['path'])
            target.path = os.path.join(scratch, item['_id'], found['name'])
            os.makedirs(os.path.dirname(target.path))
            session.download_file(found['_id'], target.path)
        except UserError as exc:
            target.error = str(exc)
        targets.append(target)
    if not targets:
        raise GirderError('Girder folder %s holds no items; put slides in it (subfolders are '
                          'searched too)' % request.search.collection)
    if not any(t.is_query for t in targets):
        targets.insert(0, Target(request.image, os.path.basename(request.image), True, False,
                                 item_id=query_item, url=histomics_url(session.api_url,
                                                                       query_item)))
    return targets


def find_girder_cache(session: GirderSession, wanted, folder: str) -> str:
    """A matching cache from the user's Girder cache folder, downloaded into ``folder``."""
    data, source = cache.find_in_girder(session, wanted, folder)
    if data is None or not data.complete:  # an interrupted job's cells: embed the rest first
        return ''
    return os.path.join(folder, wanted.cache_name())


def upload_new_caches(session: GirderSession, targets: list[Target]) -> None:
    """Cache the slides embedded by this search in Girder, for the next search."""
    for target in targets:
        if target.cache and target.embedded_now:
            try:
                cache.upload_to_girder(session, store.load(target.cache), target.cache)
            except GirderError as exc:
                logger.warning('the embeddings of %s were not cached in Girder: %s',
                               target.name, exc)


def post_heatmaps(session: GirderSession, request: Request, targets: list[Target], top: TopK,
                  query: np.ndarray) -> dict[str, str]:
    """A heatmap of the query on each target with a match; item id -> annotation id."""
    colormap = parse_colormap(request.render.colormap, parse_colour(request.render.colour))
    posted = {}
    for number in sorted({int(t) for t in top.targets}):
        target = targets[number]
        if not target.item_id:
            continue
        data = store.load(target.cache)
        similarity = cosine_map(data.embeddings,
                                searchable_cells(data, request.tiling.tissue_threshold),
                                query, data.norms)
        low, high = SCORE_RANGE
        values = np.where(np.isfinite(similarity),
                          np.clip((similarity - low) / (high - low), 0, 1), 0).astype(np.float32)
        result = SimilarityMap(similarity, values, [], [], low, 'fixed', 1)
        doc = build_annotation(data.grid, result, None, request.render.annotation_name, {
            'model': data.provenance.model.name, 'version': __version__,
            'queryImage': request.girder.image_id,
            'keypoints': [list(p) for p in request.query.keypoints],
            'scoreRange': list(SCORE_RANGE), 'matches': int((top.targets == number).sum())},
            colormap=colormap)
        doc['attributes'] = {COLLECTION_ATTRIBUTE: next(iter(doc['attributes'].values()))}
        posted[target.item_id] = _post_or_update(session, target.item_id, doc, request)
    return posted


def _post_or_update(session: GirderSession, item_id: str, doc: dict, request: Request) -> str:
    model = doc['attributes'][COLLECTION_ATTRIBUTE]['model']
    for previous in session.my_annotations(item_id, model, COLLECTION_ATTRIBUTE):
        attrs = previous['annotation']['attributes'][COLLECTION_ATTRIBUTE]
        if (previous['annotation'].get('name') == request.render.annotation_name
                and attrs.get('queryImage') == request.girder.image_id):
            return session.update_annotation(str(previous['_id']), doc)
    return session.create_annotation(item_id, doc)
