"""Colours: parsing user colours, the heatmap colour maps, and the categorical cluster palette.

One definition serves both pictures: the annotation's ``colorRange``/``rangeValues`` and the
PNG overlay sample the same :class:`Colormap`, so HistomicsUI and the PNG agree.
"""

from __future__ import annotations

import colorsys
import dataclasses
import re

import numpy as np

from ..errors import InputError

_NAMED = {'red': '#ff0000', 'green': '#00ff00', 'blue': '#0000ff', 'yellow': '#ffff00',
          'cyan': '#00ffff', 'magenta': '#ff00ff', 'black': '#000000', 'white': '#ffffff',
          'orange': '#ffa500', 'lime': '#00ff00'}

# 11 evenly spaced stops of matplotlib's maps (viridis, magma: perceptually uniform and
# colour-blind safe; turbo: a rainbow with even lightness steps; coolwarm: diverging).
_STOPS = {
    'viridis': ('#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884',
                '#44bf70', '#7ad151', '#bddf26', '#fde725'),
    'magma': ('#000004', '#140e36', '#3b0f70', '#641a80', '#8c2981', '#b73779', '#de4968',
              '#f7705c', '#fe9f6d', '#fecf92', '#fcfdbf'),
    'turbo': ('#30123b', '#4559cb', '#3e9bfe', '#19d5cd', '#46f884', '#a4fc3c', '#e1dd37',
              '#fea431', '#f05b12', '#c32503', '#7a0403'),
    'coolwarm': ('#3b4cc0', '#5977e3', '#7b9ff9', '#9ebeff', '#c0d4f5', '#dddcdc', '#f2cbb7',
                 '#f7ac8e', '#ee8468', '#d65244', '#b40426'),
}
COLORMAP_NAMES = ('single', *_STOPS)
FLOOR_ALPHA = 0.5
"""One colour: the opacity at the cut-off, as a share of the full opacity (which is reached at
the best match); below the cut-off, and on glass, nothing is coloured."""
HEATMAP_FIRST_STOP = 0.01
"""The heaped-up intensity at which a geojs heatmap starts showing the cut-off's colour."""
MAP_START = 0.35
"""Multi-colour maps show the hits with their upper part, from this point of the map up: their
darkest colours (viridis' and magma's near-black, coolwarm's cold blue) read as dense tissue or
as "unlike", not as the cut-off's "alike enough"."""

# Okabe & Ito (2008), then Paul Tol's "muted" and "light" schemes: the first 8 colours are
# distinguishable with every common colour-vision deficiency, the next 17 stay distinct for most
# viewers. Beyond 25 clusters colours are spread evenly around the hue circle.
CLUSTER_PALETTE = (
    '#e69f00', '#56b4e9', '#009e73', '#f0e442', '#0072b2', '#d55e00', '#cc79a7', '#000000',
    '#cc6677', '#332288', '#ddcc77', '#117733', '#88ccee', '#882255', '#44aa99', '#999933',
    '#aa4499', '#77aadd', '#ee8866', '#eedd88', '#ffaabb', '#99ddff', '#44bb99', '#bbcc33',
    '#aaaa00',
)
CLUSTER_COLOUR_BLIND_SAFE = 8

RGB = tuple[int, int, int]


def parse_colour(text: str) -> RGB:
    """``#rgb``, ``#rrggbb``, ``rgb(r, g, b)``, ``rgba(r, g, b, a)`` or a basic name -> RGB."""
    value = (text or '').strip().lower()
    value = _NAMED.get(value, value)
    match = re.fullmatch(r'#([0-9a-f]{3}|[0-9a-f]{6})', value)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = ''.join(d * 2 for d in digits)
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    match = re.fullmatch(r'rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(,\s*[0-9.]+\s*)?\)', value)
    if match and all(int(match.group(i)) <= 255 for i in (1, 2, 3)):
        return tuple(int(match.group(i)) for i in (1, 2, 3))  # type: ignore[return-value]
    raise InputError('invalid heatmap colour %r; use #rrggbb (e.g. #ffff00), rgb(255, 255, 0) or '
                     'a basic name such as yellow' % text)


def rgba_text(rgb: RGB, alpha: float) -> str:
    """``rgba(r, g, b, a)`` with the plain decimal alpha large_image's schema accepts."""
    alpha = float(np.clip(alpha, 0.0, 1.0))
    text = ('%.3f' % alpha).rstrip('0').rstrip('.') if alpha not in (0, 1) else str(int(alpha))
    return 'rgba(%d, %d, %d, %s)' % (int(rgb[0]), int(rgb[1]), int(rgb[2]), text)


def hex_text(rgb: RGB) -> str:
    return '#%02x%02x%02x' % tuple(int(c) for c in rgb)


@dataclasses.dataclass(frozen=True)
class Colormap:
    """Display values in [0, 1] -> colour and opacity.

    Values below the cut-off ``start`` (display units; 0 without one) and value 0 (glass, no
    hit) are clear. From the cut-off up, ``single`` (one colour) goes from
    :data:`FLOOR_ALPHA` of ``max_alpha`` to ``max_alpha``; the others run through their stops
    from :data:`MAP_START` up at ``max_alpha``.
    """

    name: str
    stops: tuple[RGB, ...]

    @property
    def fades(self) -> bool:
        """True when opacity carries the value (one colour)."""
        return len(self.stops) == 1

    def rgb(self, values: np.ndarray) -> np.ndarray:
        """``(..., 3)`` float RGB (0-255) by linear interpolation between the stops."""
        values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0)
        stops = np.asarray(self.stops, dtype=np.float32)
        if len(stops) == 1:
            return np.broadcast_to(stops[0], (*values.shape, 3)).copy()
        where = values * (len(stops) - 1)
        low = np.minimum(np.floor(where).astype(int), len(stops) - 2)
        frac = (where - low)[..., None]
        return stops[low] * (1 - frac) + stops[low + 1] * frac

    def position(self, values: np.ndarray, start: float = 0.0) -> np.ndarray:
        """Where each value lies on the colour scale: 0 at the cut-off ``start``, 1 at 1."""
        start = float(start) if np.isfinite(start) else 0.0
        values = np.nan_to_num(np.asarray(values, dtype=np.float32))
        return np.clip((values - start) / max(1.0 - start, 1e-6), 0.0, 1.0)

    def shade(self, values: np.ndarray, max_alpha: float, start: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb, alpha)`` of display ``values``: clear below ``start`` and at 0, coloured
        from the cut-off up."""
        values = np.nan_to_num(np.asarray(values, dtype=np.float32))
        where = self.position(values, start)
        floor = float(start) if np.isfinite(start) else 0.0
        coloured = (values > 0) & (values >= floor - 1e-6)
        if self.fades:
            alpha, rgb = FLOOR_ALPHA + (1 - FLOOR_ALPHA) * where, self.rgb(where)
        else:
            alpha, rgb = np.ones_like(where), self.rgb(MAP_START + (1 - MAP_START) * where)
        return rgb, np.where(coloured, alpha * max_alpha, 0.0).astype(np.float32)

    def annotation_range(self, max_alpha: float, start: float = 0.0
                         ) -> tuple[list[float], list[str]]:
        """``rangeValues`` and ``colorRange`` for a griddata element of display values in
        [0, 1]: clear at 0, the cut-off colour at ``start``, the full colour at 1."""
        start = float(np.floor(start * 1e4) / 1e4) if np.isfinite(start) and start > 0 else 0.0
        steps = 2 if self.fades else 10
        above = [round(start + (1 - start) * i / steps, 4) for i in range(steps + 1)]
        positions = [0.0] + [p for p in above if p > 0]
        rgb, alpha = self.shade(np.array(positions), max_alpha, start)
        alpha[0] = 0.0
        return positions, [rgba_text(tuple(np.rint(c)), a) for c, a in zip(rgb, alpha,
                                                                           strict=True)]


def heatmap_positions(positions: list[float], cutoff: float) -> list[float]:
    """The colour stops of a geojs heatmap, which colours by the intensity its points heap up
    on a pixel, not by a cell's value: only hit cells carry a value, so the cut-off's colour
    starts at the faintest intensity (:data:`HEATMAP_FIRST_STOP`) and the stops above it are
    spread up to 1. (Stops at the cells' own values left the hits mostly clear in HistomicsUI:
    a pixel heaps up less than its cell's value.)"""
    start = float(cutoff) if np.isfinite(cutoff) and cutoff > 0 else 0.0
    if start <= 0:
        return positions
    spread = [HEATMAP_FIRST_STOP + (1 - HEATMAP_FIRST_STOP) * (p - start) / max(1 - start, 1e-6)
              for p in positions[1:]]
    return [positions[0], *[round(float(np.clip(p, HEATMAP_FIRST_STOP, 1)), 4) for p in spread]]


def _split_colour_list(text: str) -> list[str]:
    """Split at the commas that are not inside ``rgb(...)``."""
    parts, depth, current = [], 0, ''
    for char in text:
        if char == '(':
            depth += 1
        elif char == ')':
            depth -= 1
            if depth < 0:
                break
        if char == ',' and depth == 0:
            parts.append(current)
            current = ''
        else:
            current += char
    if depth != 0:
        raise InputError('malformed colour list %r: unbalanced parentheses; write e.g. '
                         '#0000ff,#ffffff,#ff0000' % text)
    parts.append(current)
    return [p.strip() for p in parts]


def parse_colormap(text: str, single_colour: RGB = (255, 255, 0)) -> Colormap:
    """A colour map name (``single`` uses ``single_colour``) or a comma list of 2+ colours."""
    value = (text or 'single').strip()
    if value.lower() in COLORMAP_NAMES:
        name = value.lower()
        if name == 'single':
            return Colormap('single', (tuple(int(c) for c in single_colour),))
        return Colormap(name, tuple(parse_colour(c) for c in _STOPS[name]))
    if ',' not in value and not value.startswith('#'):
        raise InputError('unknown colormap %r; use one of %s, or a list of colours such as '
                         '#0000ff,#ffffff,#ff0000' % (text, ', '.join(COLORMAP_NAMES)))
    parts = _split_colour_list(value)
    if len(parts) < 2:
        raise InputError('malformed colour list %r: give at least two colours separated by '
                         'commas (one colour: --colormap single --color %s)' % (text, value))
    colours = []
    for part in parts:
        try:
            colours.append(parse_colour(part))
        except InputError:
            raise InputError('malformed colour list %r: %r is not a colour; use #rrggbb, '
                             'rgb(r, g, b) or a basic name' % (text, part)) from None
    return Colormap('list', tuple(colours))


def cluster_colours(count: int) -> list[RGB]:
    """``count`` categorical colours: the palette, then evenly spread hues."""
    colours = [parse_colour(c) for c in CLUSTER_PALETTE[:count]]
    extra = count - len(colours)
    for i in range(extra):
        hue = (i * 0.618033988749895 + 0.1) % 1.0
        value = 0.85 if i % 2 else 0.6
        r, g, b = colorsys.hsv_to_rgb(hue, 0.75, value)
        colours.append((round(r * 255), round(g * 255), round(b * 255)))
    return colours
