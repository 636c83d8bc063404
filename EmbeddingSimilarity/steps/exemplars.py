"""Existing annotations as exemplars: the points, rectangles and closed polylines of the
annotations (or element groups) named by ``--positive-annotations`` / ``--negative-annotations``
on the image in Girder become key shapes, so "more like these three outlined regions" is one
click.
"""

from __future__ import annotations

import math

from ..errors import InputError
from ..girder.session import GirderLink
from ..query.shapes import Shape, point, polygon, rectangle
from .request import Request


def split_names(text: str) -> list[str]:
    """Comma-separated annotation names (spaces around a name ignored)."""
    return [name.strip() for name in text.split(',') if name.strip()]


def element_shape(element: dict) -> Shape | None:
    """A large_image annotation element as a key shape (None for kinds that have no area or
    place: lines, heatmaps, ...)."""
    kind = element.get('type')
    if kind == 'point':
        x, y = element['center'][:2]
        return point(x, y)
    if kind == 'rectangle':
        cx, cy = element['center'][:2]
        width, height = float(element['width']), float(element['height'])
        angle = float(element.get('rotation') or 0.0)
        if not angle:
            return rectangle(cx - width / 2, cy - height / 2, width, height, 'annotation')
        cos, sin = math.cos(angle), math.sin(angle)
        corners = [(dx * width / 2, dy * height / 2) for dx, dy in
                   ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        return polygon([(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in corners],
                       'annotation')
    if kind == 'polyline' and element.get('closed'):
        return polygon([(float(p[0]), float(p[1])) for p in element['points']], 'annotation')
    return None


def annotation_shapes(link: GirderLink | None, image_id: str, text: str,
                      option: str) -> list[Shape]:
    """The key shapes of the annotations named in ``text`` on the image's item."""
    names = split_names(text)
    if not names:
        if text.strip():
            raise InputError('%s %r names no annotation; give annotation or element group '
                             'names separated by commas' % (option, text))
        return []
    if link is None or not image_id:
        raise InputError('%s reads annotations from Girder; it needs --api-url, --girder-token '
                         'and --image-id' % option)
    session = link.require()
    item = session.resolve_item(image_id)
    elements, existing = session.annotations_named(item['_id'], names)
    missing = [name for name in names if name not in existing]
    if missing:
        raise InputError('%s: no annotation or element group named %s on this image; it has %s'
                         % (option, ', '.join(repr(n) for n in missing),
                            ', '.join(repr(n) for n in existing) or 'none'))
    shapes = [shape for shape in map(element_shape, elements) if shape is not None]
    if not shapes:
        raise InputError('%s: the annotations %s hold no point, rectangle or closed polygon'
                         % (option, ', '.join(repr(n) for n in names)))
    return shapes


def exemplar_shapes(request: Request, link: GirderLink | None) -> Request:
    """``request`` with the exemplar annotations' shapes added to its key shapes."""
    query = request.query
    if not (query.positive_annotations or query.negative_annotations):
        return request
    positives = annotation_shapes(link, request.girder.image_id, query.positive_annotations,
                                  '--positive-annotations')
    negatives = annotation_shapes(link, request.girder.image_id, query.negative_annotations,
                                  '--negative-annotations')
    return request.but(
        keypoints=query.keypoints + [s.vertices[0] for s in positives if s.is_point],
        key_regions=query.key_regions + [s for s in positives if not s.is_point],
        negative_keypoints=query.negative_keypoints + [
            s.vertices[0] for s in negatives if s.is_point],
        negative_regions=query.negative_regions + [s for s in negatives if not s.is_point])
