"""Key shapes from Slicer ``region`` values, in the formats HistomicsUI's region widget sends
(``girder_large_image_annotation/web_client/views/imageViewerWidget/geojs.js``,
``drawRegion`` and ``_mergeRegions``):

- a point: ``x,y``;
- a rectangle: ``left,top,width,height`` (4 numbers);
- a Slicer region: ``cx,cy,cz,rx,ry,rz`` (6 numbers, centre and radius), read as a rectangle;
- a polygon: ``x1,y1,...,xn,yn`` with at least 4 vertices (HistomicsUI pads a triangle by
  repeating the first vertex), so at least 8 numbers;
- nothing: ``-1,-1`` or ``-1,-1,-1,-1`` (a cleared widget);
- several shapes joined by ``-1,-1``; after a merge a rectangle arrives as its 4 corners (a
  polygon), and separators can repeat (``x,y,-1,-1,-1,-1,x,y``).

The value is first cut at every ``-1,-1`` pair, so ``x,y,-1,-1,x,y`` is two points and
``x,y,-1,-1`` one point; a piece of 2 numbers is a point, 4 a rectangle, 6 a Slicer region and
8 or more a polygon. No vertex of a real shape lies at (-1, -1): it would be outside the image.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import InputError, for_admin

SEPARATOR = (-1.0, -1.0)


MAX_COORDINATE = 1e7
"""No slide is wider than this many base pixels (a 40x scan of a 25 cm slide is 1e6)."""


EDGE_BLOCK = 1 << 22
"""Edge-point pairs tested at once by :meth:`Shape.contains` (bounded memory, vectorised)."""


@dataclasses.dataclass(frozen=True)
class Shape:
    """A key shape in base-image pixels: one vertex (point), 4 corners (rectangle, clockwise
    from top left) or the distinct vertices of a polygon."""

    kind: str
    vertices: tuple[tuple[float, float], ...]

    @property
    def is_point(self) -> bool:
        return self.kind == 'point'

    def bounds(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom)."""
        xs = [x for x, _ in self.vertices]
        ys = [y for _, y in self.vertices]
        return min(xs), min(ys), max(xs), max(ys)

    def contains(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Which of the points ``(xs, ys)`` lie inside (a point shape: none).

        One rule everywhere (docs/errors.rst, "Key regions"): the even-odd rule, and a point on
        the outline (an edge or a vertex) counts as inside. Both tests use the sign of one cross
        product, never a division, so a point exactly on an edge is on it whatever the order
        in which the edges are taken (a division rounds the crossing either side of it)."""
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        if self.is_point or not xs.size:
            return np.zeros(xs.shape, dtype=bool)
        start = np.asarray(self.vertices, dtype=float)
        end = np.roll(start, -1, axis=0)
        px, py = xs.ravel(), ys.ravel()
        crossings = np.zeros(px.shape, dtype=np.int64)
        outline = np.zeros(px.shape, dtype=bool)
        step = max(1, EDGE_BLOCK // px.size)  # edges x points per block stays bounded
        for first in range(0, len(start), step):
            a, b = start[first:first + step], end[first:first + step]
            block_crossings, block_outline = _edge_tests(a, b, px, py)
            crossings += block_crossings
            outline |= block_outline
        return ((crossings % 2 == 1) | outline).reshape(xs.shape)

    def centre(self) -> tuple[float, float]:
        left, top, right, bottom = self.bounds()
        return (left + right) / 2, (top + bottom) / 2


def _edge_tests(start: np.ndarray, end: np.ndarray, px: np.ndarray,
                py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point: how many of the edges ``start -> end`` a ray to the right crosses (half-open
    in y, so a vertex is counted once), and whether it lies on one of them."""
    upward = start[:, 1] <= end[:, 1]
    low = np.where(upward[:, None], start, end)  # each edge from its lower to its upper end
    high = np.where(upward[:, None], end, start)
    (x1, y1), (x2, y2) = low.T[:, :, None], high.T[:, :, None]
    cross = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)  # > 0: the point is left of the edge
    crossings = ((py >= y1) & (py < y2) & (cross > 0)).sum(axis=0)
    on_edge = ((cross == 0) & (py >= y1) & (py <= y2)
               & (px >= np.minimum(x1, x2)) & (px <= np.maximum(x1, x2))).any(axis=0)
    return crossings, on_edge


def point(x: float, y: float) -> Shape:
    return Shape('point', ((float(x), float(y)),))


def rectangle(left: float, top: float, width: float, height: float, name: str) -> Shape:
    right, bottom = left + width, top + height
    # a width far below the corner's precision (1e-36 at x = -1) adds nothing: no area either
    if not (width > 0 and height > 0) or right <= left or bottom <= top:
        raise InputError('%s: rectangle %g,%g,%g,%g has no area; width and height must be '
                         'positive' % (name, left, top, width, height))
    if max(abs(left), abs(top), abs(right), abs(bottom), width, height) > MAX_COORDINATE:
        raise InputError('%s: rectangle %g,%g,%g,%g reaches beyond %g pixels, larger than any '
                         'slide' % (name, left, top, width, height, MAX_COORDINATE))
    if (left, top) == SEPARATOR:  # a region's centre and radius can put its corner there
        raise InputError('%s: rectangle %g,%g,%g,%g starts at -1,-1, which the region format '
                         'reserves as a separator; move it onto the slide'
                         % (name, left, top, width, height))
    return Shape('rectangle', ((left, top), (right, top), (right, bottom), (left, bottom)))


def polygon(vertices: list[tuple[float, float]], name: str) -> Shape:
    """A polygon of the distinct vertices (repeats, such as HistomicsUI's padding, dropped)."""
    seen: set[tuple[float, float]] = set()
    distinct: list[tuple[float, float]] = []
    for vertex in vertices:  # a set: linear in the vertices (a traced outline has 1e5 or more)
        if vertex not in seen:
            seen.add(vertex)
            distinct.append(vertex)
    if len(distinct) < 3:
        raise InputError('%s: a polygon needs at least 3 distinct vertices; got %d (%s)'
                         % (name, len(distinct), ', '.join('%g,%g' % v for v in distinct)))
    return Shape('polygon', tuple(distinct))


def _piece(pairs: list[tuple[float, float]], name: str) -> Shape:
    numbers = [v for pair in pairs for v in pair]
    if len(pairs) == 1:
        return point(*pairs[0])
    if len(pairs) == 2:
        return rectangle(*numbers, name=name)
    if len(pairs) == 3:
        cx, cy, _, rx, ry, _ = numbers
        return rectangle(cx - rx, cy - ry, 2 * rx, 2 * ry, name=name)
    return polygon(pairs, name)


def parse_shapes(values: list[float] | str | None, name: str = 'key points') -> list[Shape]:
    """The shapes of a Slicer ``region`` value (a list of numbers or their comma-separated text)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.replace(' ', '').split(',') if v]
    try:
        numbers = [float(v) for v in values]
    except ValueError as exc:
        raise InputError('%s must be numbers separated by commas; %s' % (name, exc)) from exc
    if not all(np.isfinite(numbers)):
        bad = next(number for number in numbers if not np.isfinite(number))
        raise InputError('%s must be finite numbers; got %s among %d numbers'
                         % (name, bad, len(numbers)))
    if any(abs(number) > MAX_COORDINATE for number in numbers):
        raise InputError('%s hold a number beyond %g pixels, larger than any slide; give '
                         'base-image pixel coordinates, e.g. 1200,3400' % (name, MAX_COORDINATE))
    if len(numbers) % 2:
        raise InputError('%s must be x,y pairs (got %d numbers); e.g. --keypoints 1200,3400, '
                         '1200,3400,-1,-1,5000,800 for two points, or left,top,width,height '
                         'for a rectangle' % (name, len(numbers)))
    pieces: list[list[tuple[float, float]]] = [[]]
    for pair in zip(numbers[0::2], numbers[1::2], strict=True):
        if pair == SEPARATOR:
            pieces.append([])
        else:
            pieces[-1].append(pair)
    return [_piece(piece, name) for piece in pieces if piece]


def format_shapes(shapes: list[Shape]) -> str:
    """The region value HistomicsUI would send for ``shapes`` (``parse_shapes`` reads it back)."""
    parts = []
    for shape in shapes:
        if shape.kind == 'rectangle':
            left, top, right, bottom = shape.bounds()
            numbers = [left, top, right - left, bottom - top]
        else:
            vertices = list(shape.vertices)
            while shape.kind == 'polygon' and len(vertices) < 4:
                vertices.append(vertices[0])
            numbers = [v for vertex in vertices for v in vertex]
        parts.append(','.join('%r' % float(v) if v != int(v) else '%d' % v for v in numbers))
    return ',-1,-1,'.join(parts) if parts else '-1,-1'


MESSAGE_VERTICES = 4
"""Vertices a message shows of a shape: a traced outline has 1e5, and one line must stay one
line."""


def shape_text(shape: Shape) -> str:
    """``shape`` for a message: its region value, cut after a few vertices for a long outline
    (``x1,y1,...,x4,y4,... (N vertices)``)."""
    if shape.kind != 'polygon' or len(shape.vertices) <= MESSAGE_VERTICES:
        return format_shapes([shape])
    head = Shape('polygon', shape.vertices[:MESSAGE_VERTICES])
    return '%s,... (%d vertices)' % (format_shapes([head]), len(shape.vertices))


def points_of(shapes: list[Shape]) -> list[tuple[float, float]]:
    """The plain points among ``shapes`` (where only points make sense)."""
    return [shape.vertices[0] for shape in shapes if shape.is_point]


def regions_of(shapes: list[Shape]) -> list[Shape]:
    """The shapes with an area (rectangles and polygons)."""
    return [shape for shape in shapes if not shape.is_point]


def check_shapes_inside(shapes: list[Shape], width: int, height: int, name: str) -> None:
    """Every region lies (at least partly) on the image; an InputError names the one that
    does not."""
    for shape in shapes:
        left, top, right, bottom = shape.bounds()
        if right < 0 or bottom < 0 or left >= width or top >= height:
            raise InputError(for_admin(
                '%s: %s %s is outside the image: draw it on the slide itself'
                % (name, shape.kind, shape_text(shape)),
                'the image spans 0..%d, 0..%d base pixels' % (width - 1, height - 1)))


def check_points_inside(points: list[tuple[float, float]], width: int, height: int,
                        name: str = 'key point') -> None:
    for x, y in points:
        if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x < width and 0 <= y < height):
            raise InputError(for_admin(
                '%s (%g, %g) is outside the image: click on the slide itself' % (name, x, y),
                'the image spans 0..%d, 0..%d base pixels' % (width - 1, height - 1)))
