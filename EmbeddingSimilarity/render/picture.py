"""The PNG pictures people read: the tinted thumbnail (:mod:`.overlay`), a panel on the right
(colour bar with the scale's meaning and key values, or one line per cluster with its colour,
share of the tissue and area), a scale bar in µm when the slide's µm per pixel is known, and a
caption naming the model and the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..slide.tiling import TileGrid
from .colours import RGB, Colormap
from .overlay import (
    CLUSTER_ALPHA,
    KEY_REGION_INK,
    NEGATIVE_REGION_INK,
    OVERLAY_MAX_ALPHA,
    tint_clusters,
    tint_similarity,
)

MIN_BAR_PIXELS = 20
_NICE_LENGTHS_UM = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_FONT_FILES = ('DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')


def _font(size: int):
    """DejaVu Sans when installed (it has µ and ²), else Pillow's default font, which lacks them:
    :func:`_plain` then spells them ``um`` and ``mm2``."""
    from PIL import ImageFont

    for path in _FONT_FILES:
        try:
            font = ImageFont.truetype(path, size)
        except OSError:
            continue
        font.ascii_only = False
        return font
    font = ImageFont.load_default(size=size)
    font.ascii_only = True
    return font


def _plain(text: str, font) -> str:
    if getattr(font, 'ascii_only', False):
        return text.replace('µ', 'u').replace('²', '2').replace('·', '-')
    return text


def _put(draw, xy, text: str, font, fill) -> None:
    draw.text(xy, _plain(text, font), fill=fill, font=font)


def _text_width(draw, text: str, font) -> float:
    return draw.textlength(_plain(text, font), font=font)


def _wrap(draw, text: str, font, width: float) -> list[str]:
    lines, current = [], ''
    for word in text.split():
        trial = (current + ' ' + word).strip()
        if current and _text_width(draw, trial, font) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return [*lines, current] if current else lines


def scale_bar_length(um_per_pixel: float, max_pixels: float) -> float | None:
    """The longest round length in µm whose bar fits in ``max_pixels`` (None when that bar
    would be shorter than :data:`MIN_BAR_PIXELS`)."""
    fitting = [n for n in _NICE_LENGTHS_UM if n / um_per_pixel <= max_pixels]
    if not fitting or fitting[-1] / um_per_pixel < MIN_BAR_PIXELS:
        return None
    return float(fitting[-1])


def _draw_scale_bar(image, slide_mpp: float | None, image_width: int, font) -> None:
    from PIL import ImageDraw

    if not slide_mpp:
        return
    width, height = image.size
    um_per_pixel = slide_mpp * image_width / width
    length = scale_bar_length(um_per_pixel, width / 4)
    if length is None:
        return
    pixels = length / um_per_pixel
    label = '%g mm' % (length / 1000) if length >= 1000 else '%g µm' % length
    draw = ImageDraw.Draw(image, 'RGBA')
    size = font.size
    left, bottom = 10, height - 10
    box = (left - 6, bottom - size - 18, left + max(pixels, _text_width(draw, label, font)) + 6,
           bottom + 4)
    draw.rectangle(box, fill=(255, 255, 255, 200))
    draw.rectangle((left, bottom - 6, left + pixels, bottom), fill=_INK)
    _put(draw, (left, bottom - size - 12), label, font, _INK)


def _compose(tinted: np.ndarray, panel_width: int, caption: str, slide_mpp: float | None,
             image_width: int, draw_panel) -> np.ndarray:
    """Thumbnail + right panel + caption strip; ``draw_panel(draw, x0, y0, width, height, font)``
    fills the panel."""
    from PIL import Image, ImageDraw

    th, tw = tinted.shape[:2]
    size = int(np.clip(round(max(tw, th) / 50), 12, 18))
    font = _font(size)
    thumb = Image.fromarray(tinted)
    _draw_scale_bar(thumb, slide_mpp, image_width, font)
    probe = ImageDraw.Draw(thumb)
    lines = _wrap(probe, caption, font, tw + panel_width - 20) if caption else []
    caption_height = (size + 4) * len(lines) + (12 if lines else 0)
    canvas = Image.new('RGB', (tw + panel_width, max(th, 200) + caption_height), _BACKGROUND)
    canvas.paste(thumb, (0, 0))
    draw = ImageDraw.Draw(canvas)
    draw_panel(draw, tw + 12, 10, panel_width - 22, max(th, 200) - 20, font)
    y = max(th, 200) + 6
    for line in lines:
        _put(draw, (10, y), line, font, (70, 70, 70))
        y += size + 4
    return np.asarray(canvas)


def similarity_picture(thumb: np.ndarray, grid: TileGrid, values: np.ndarray,
                       colormap: Colormap, *, title: str, ticks: Sequence[tuple[float, str]],
                       display: str = 'heatmap', levels: Sequence[tuple[float, str]] = (),
                       points: Sequence[tuple[float, float]] = (),
                       regions: Sequence[Sequence[tuple[float, float]]] = (),
                       negative_regions: Sequence[Sequence[tuple[float, float]]] = (),
                       slide_mpp: float | None = None, caption: str = '',
                       cutoff: float = 0.0, cutoff_label: str = '') -> np.ndarray:
    """The heatmap picture with a colour bar, coloured (map and bar) from ``cutoff`` (display
    units) up; the bar marks the cut-off with ``cutoff_label`` (its score and the hits).

    ``ticks``: (display value, label) pairs along the bar (what the scale means: percentile or
    cosine). ``levels``: (display value, label) of the contour levels, marked across the bar
    and drawn as iso-lines when ``display`` is contour. ``regions``, ``negative_regions``: the
    key shapes' vertices (base pixels), outlined and named in the legend.
    """
    tinted = tint_similarity(thumb, grid, values, colormap, display,
                             [v for v, _ in levels], points, regions, negative_regions, cutoff)
    levels = [(v, t) for v, t in levels if t != 'cut-off' or not cutoff_label]

    def panel(draw, x0, y0, width, height, font):
        y = y0
        for line in _wrap(draw, title, font, width):
            _put(draw, (x0, y), line, font, _INK)
            y += font.size + 4
        bar_top, bar_height, bar_width = y + font.size // 2 + 4, int(min(height * 0.6, 320)), 22
        shown = np.linspace(1.0, 0.0, bar_height)
        rgb, alpha = colormap.shade(shown, OVERLAY_MAX_ALPHA, cutoff)
        # the bar as the colours look on glass (white), so faded values read as faded
        strip = rgb * alpha[:, None] + 255.0 * (1 - alpha[:, None])
        for i, colour in enumerate(np.rint(strip).astype(int)):
            draw.line((x0, bar_top + i, x0 + bar_width, bar_top + i), fill=tuple(colour))
        draw.rectangle((x0, bar_top, x0 + bar_width, bar_top + bar_height - 1), outline=_INK)

        def at(value: float) -> float:
            return bar_top + (1.0 - float(np.clip(value, 0, 1))) * (bar_height - 1)

        for value, label in ticks:
            ty = at(value)
            draw.line((x0 + bar_width, ty, x0 + bar_width + 5, ty), fill=_INK, width=1)
            _put(draw, (x0 + bar_width + 8, ty - font.size / 2 - 1), label, font, _INK)
        # contour levels: a line across the bar, named in a second column (past the ticks)
        column = x0 + bar_width + 8 + max((_text_width(draw, t, font) for _, t in ticks),
                                          default=0) + 14
        for value, label in levels:
            ty = at(value)
            draw.line((x0 - 4, ty, x0 + bar_width + 4, ty), fill=(0, 0, 0), width=2)
            _put(draw, (column, ty - font.size / 2 - 1), '%s %.2f' % (label, value), font,
                 (90, 0, 90))
        y = bar_top + bar_height + font.size
        if cutoff_label and np.isfinite(cutoff):
            draw.line((x0 - 4, at(cutoff), x0 + bar_width + 4, at(cutoff)), fill=_INK, width=3)
            y = _cutoff_legend(draw, x0, y, width, font, cutoff_label)
        _key_shapes_legend(draw, x0, y, font, points, regions, negative_regions)

    return _compose(tinted, 230, caption, slide_mpp, grid.image_width, panel)


def _cutoff_legend(draw, x0: float, y: float, width: float, font, label: str) -> float:
    """The cut-off's line on the bar explained under it; the next free ``y``."""
    text = ('Thick line on the bar: the cut-off; no colour below it. Cyan outline: ' + label)
    for line in _wrap(draw, text, font, width):
        _put(draw, (x0, y), line, font, (90, 0, 90))
        y += font.size + 4
    return y + font.size // 2


def _key_shapes_legend(draw, x0: float, y: float, font, points: Sequence, regions: Sequence,
                       negative_regions: Sequence) -> None:
    """One legend line per kind of key shape drawn on the picture, from ``y`` down."""
    if points:
        cx, cy, r = x0 + 8, y + font.size / 2, 6
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(0, 0, 0), width=2)
        _put(draw, (x0 + 22, y), 'key point%s' % ('s' if len(points) > 1 else ''), font, _INK)
        y += font.size + 8
    for shapes, ink, label in ((regions, KEY_REGION_INK, 'key region'),
                               (negative_regions, NEGATIVE_REGION_INK, 'negative region')):
        if shapes:
            cy = y + font.size / 2
            draw.rectangle((x0 + 2, cy - 6, x0 + 14, cy + 6), outline=ink, width=2)
            _put(draw, (x0 + 22, y), label + ('s' if len(shapes) > 1 else ''), font, _INK)
            y += font.size + 8


def cluster_picture(thumb: np.ndarray, grid: TileGrid, labels: np.ndarray,
                    colours: Sequence[RGB], entries: Sequence[str], *, title: str,
                    slide_mpp: float | None = None, caption: str = '') -> np.ndarray:
    """The cluster map with a legend: one swatch per cluster and its ``entries`` text."""
    tinted = tint_clusters(thumb, grid, labels, colours)

    def panel(draw, x0, y0, width, height, font):
        y = y0
        for line in _wrap(draw, title, font, width):
            _put(draw, (x0, y), line, font, _INK)
            y += font.size + 4
        y += font.size // 2
        step = font.size + 8
        shown = min(len(entries), max(1, int((height - (y - y0)) // step)))
        for colour, text in zip(list(colours)[:shown], entries[:shown], strict=True):
            swatch = tuple(int(round(c * CLUSTER_ALPHA + 255 * (1 - CLUSTER_ALPHA)))
                           for c in colour)
            draw.rectangle((x0, y + 1, x0 + font.size, y + font.size + 1), fill=swatch,
                           outline=tuple(colour), width=2)
            _put(draw, (x0 + font.size + 8, y), text, font, _INK)
            y += step
        if shown < len(entries):
            _put(draw, (x0, y), '... %d more (see the table)' % (len(entries) - shown), font,
                 _INK)

    return _compose(tinted, 250, caption, slide_mpp, grid.image_width, panel)
