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
        """Which of the points ``(xs, ys)`` lie inside (even-odd rule; a point shape: none)."""
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        inside = np.zeros(xs.shape, dtype=bool)
        if self.is_point or not xs.size:
            return inside
        start = np.asarray(self.vertices, dtype=float)
        end = np.roll(start, -1, axis=0)
        start, end = start[start[:, 1] != end[:, 1]], end[start[:, 1] != end[:, 1]]
        px, py = xs.ravel(), ys.ravel()
        crossings = np.zeros(px.shape, dtype=np.int64)
        step = max(1, EDGE_BLOCK // px.size)  # edges x points per block stays bounded
        for first in range(0, len(start), step):
            (x1, y1), (x2, y2) = start[first:first + step].T, end[first:first + step].T
            low, high = np.minimum(y1, y2)[:, None], np.maximum(y1, y2)[:, None]
            at = x1[:, None] + (py - y1[:, None]) * ((x2 - x1) / (y2 - y1))[:, None]
            crossings += ((py >= low) & (py < high) & (px < at)).sum(axis=0)
        return (crossings % 2 == 1).reshape(inside.shape)

    def centre(self) -> tuple[float, float]:
        left, top, right, bottom = self.bounds()
        return (left + right) / 2, (top + bottom) / 2


def point(x: float, y: float) -> Shape:
    return Shape('point', ((float(x), float(y)),))


def rectangle(left: float, top: float, width: float, height: float, name: str) -> Shape:
    right, bottom = left + width, top + height
    # a width far below the corner's precision (1e-36 at x = -1) adds nothing: no area either
    if not (width > 0 and height > 0) or right <= left or bottom <= top:
        raise InputError('%s: rectangle %g,%g,%g,%g has no area; width and height must be '
                         'positive' % (name, left, top, width, height))
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


MAX_COORDINATE = 1e7
"""No slide is wider than this many base pixels (a 40x scan of a 25 cm slide is 1e6)."""


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
        raise InputError('%s must be finite numbers; got %s' % (name, values))
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
                % (name, shape.kind, format_shapes([shape])),
                'the image spans 0..%d, 0..%d base pixels' % (width - 1, height - 1)))


def check_points_inside(points: list[tuple[float, float]], width: int, height: int,
                        name: str = 'key point') -> None:
    for x, y in points:
        if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x < width and 0 <= y < height):
            raise InputError(for_admin(
                '%s (%g, %g) is outside the image: click on the slide itself' % (name, x, y),
                'the image spans 0..%d, 0..%d base pixels' % (width - 1, height - 1)))
