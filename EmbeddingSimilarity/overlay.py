"""The PNG pictures: the slide thumbnail with a heatmap or cluster map on it, and a legend.

A picture is the thumbnail (tinted), a panel on the right (colour bar with the scale's meaning
and key values, or one line per cluster with its colour, share of the tissue and area), a
scale bar in µm when the slide's µm per pixel is known, and a caption naming the model and the
grid. Everything is drawn with Pillow's default font.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from .atomic import write_bytes
from .colours import RGB, Colormap
from .tiling import TileGrid

OVERLAY_MAX_SIDE = 1024
OVERLAY_MAX_ALPHA = 0.7
CLUSTER_ALPHA = 0.55
MIN_BAR_PIXELS = 20
DISPLAYS = ('heatmap', 'choropleth', 'contour')
_NICE_LENGTHS_UM = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)
_BACKGROUND = (255, 255, 255)
_INK = (20, 20, 20)
_FONT_FILES = ('DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')


def overlay_size(grid: TileGrid, max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    scale = min(1.0, max_side / max(grid.image_width, grid.image_height))
    return max(1, round(grid.image_width * scale)), max(1, round(grid.image_height * scale))


def write_png(path: str, pixels: np.ndarray, colours: int = 0) -> None:
    """Write an RGB PNG; ``colours`` > 0 stores it with that many palette colours (about a
    third of the size, for pictures that ship in the docs)."""
    from PIL import Image

    image = Image.fromarray(pixels)
    if colours:
        image = image.quantize(colors=colours, method=Image.Quantize.FASTOCTREE,
                               dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    image.save(buffer, format='PNG', optimize=True)
    write_bytes(path, buffer.getvalue())


def _nearest_cells(grid: TileGrid, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index of the cell whose centre is nearest each thumbnail row / column."""
    sx, sy = grid.image_width / width, grid.image_height / height
    ox, oy = grid.origin
    cols = np.clip(np.rint(((np.arange(width) + 0.5) * sx - ox) / grid.stride_base), 0,
                   grid.cols - 1).astype(int)
    rows = np.clip(np.rint(((np.arange(height) + 0.5) * sy - oy) / grid.stride_base), 0,
                   grid.rows - 1).astype(int)
    return rows, cols


def _smooth(grid: TileGrid, values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Cell values bilinearly interpolated between cell centres onto the thumbnail."""
    sx, sy = grid.image_width / width, grid.image_height / height
    ox, oy = grid.origin

    def axis(n: int, scale: float, origin: float, cells: int):
        pos = np.clip(((np.arange(n) + 0.5) * scale - origin) / grid.stride_base, 0, cells - 1)
        low = np.minimum(np.floor(pos).astype(int), max(cells - 2, 0))
        return low, np.minimum(low + 1, cells - 1), (pos - low).astype(np.float32)

    r0, r1, fr = axis(height, sy, oy, grid.rows)
    c0, c1, fc = axis(width, sx, ox, grid.cols)
    v = np.nan_to_num(values.astype(np.float32))
    top = v[r0][:, c0] * (1 - fc) + v[r0][:, c1] * fc
    bottom = v[r1][:, c0] * (1 - fc) + v[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def _blend(thumb: np.ndarray, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    out = thumb.astype(np.float32) * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return out.clip(0, 255).astype(np.uint8)


def _ring_points(out: np.ndarray, grid: TileGrid, points: Sequence[tuple[float, float]]) -> None:
    th, tw = out.shape[:2]
    sx, sy = grid.image_width / tw, grid.image_height / th
    radius = max(3, int(round(min(tw, th) / 80)))
    yy, xx = np.ogrid[:th, :tw]
    for x, y in points:
        d = np.hypot(xx - x / sx, yy - y / sy)
        out[(d >= radius - 1.5) & (d <= radius + 1.5)] = (0, 0, 0)
        out[(d > radius + 1.5) & (d <= radius + 2.5)] = (255, 255, 255)


def overlay_image(thumb: np.ndarray, grid: TileGrid, values: np.ndarray,
                  colour: tuple[int, int, int],
                  points: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """The thumbnail with each pixel tinted by its nearest cell's value, key points ringed."""
    rows, cols = _nearest_cells(grid, thumb.shape[1], thumb.shape[0])
    alpha = values[rows[:, None], cols[None, :]].astype(np.float32) * OVERLAY_MAX_ALPHA
    out = _blend(thumb, np.array(colour, dtype=np.float32), alpha)
    _ring_points(out, grid, points)
    return out


def _iso_lines(field: np.ndarray, level: float) -> np.ndarray:
    """Pixels on the boundary of ``field >= level``, two pixels wide."""
    above = field >= level
    edge = np.zeros_like(above)
    edge[:-1] |= above[:-1] != above[1:]
    edge[:, :-1] |= above[:, :-1] != above[:, 1:]
    thick = edge.copy()
    thick[1:] |= edge[:-1]
    thick[:, 1:] |= edge[:, :-1]
    return thick


def tint_similarity(thumb: np.ndarray, grid: TileGrid, values: np.ndarray, colormap: Colormap,
                    display: str = 'heatmap', levels: Sequence[float] = (),
                    points: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """The thumbnail under the similarity values as ``display`` shows them.

    heatmap: smooth (bilinear between cell centres); choropleth: each cell's own value;
    contour: iso-lines at ``levels`` over a light smooth tint.
    """
    th, tw = thumb.shape[:2]
    if display == 'choropleth':
        rows, cols = _nearest_cells(grid, tw, th)
        field = values[rows[:, None], cols[None, :]].astype(np.float32)
    else:
        field = _smooth(grid, values, tw, th)
    max_alpha = OVERLAY_MAX_ALPHA / 2 if display == 'contour' else OVERLAY_MAX_ALPHA
    out = _blend(thumb, colormap.rgb(field), colormap.alpha(field, max_alpha))
    if display == 'contour':
        for level in levels:
            line = _iso_lines(field, level)
            colour = colormap.rgb(np.array([max(level, 0.5)]))[0]
            out[line] = np.rint(colour * 0.6).astype(np.uint8)  # darker than the tint
    _ring_points(out, grid, points)
    return out


def tint_clusters(thumb: np.ndarray, grid: TileGrid, labels: np.ndarray,
                  colours: Sequence[RGB]) -> np.ndarray:
    """Each thumbnail pixel in its nearest cell's cluster colour, cluster borders in dark grey."""
    th, tw = thumb.shape[:2]
    rows, cols = _nearest_cells(grid, tw, th)
    field = labels[rows[:, None], cols[None, :]]
    palette = np.array(list(colours) + [(0, 0, 0)], dtype=np.float32)
    rgb = palette[np.where(field >= 0, field, len(colours))]
    out = _blend(thumb, rgb, np.where(field >= 0, CLUSTER_ALPHA, 0.0).astype(np.float32))
    border = np.zeros(field.shape, dtype=bool)
    border[:-1] |= field[:-1] != field[1:]
    border[:, :-1] |= field[:, :-1] != field[:, 1:]
    out[border] = (60, 60, 60)
    return out


# ---- legend, scale bar and caption -------------------------------------------------------------

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
                       slide_mpp: float | None = None, caption: str = '') -> np.ndarray:
    """The heatmap picture with a colour bar.

    ``ticks``: (display value, label) pairs along the bar (what the scale means: percentile or
    cosine). ``levels``: (display value, label) of the contour levels, marked across the bar
    and drawn as iso-lines when ``display`` is contour.
    """
    tinted = tint_similarity(thumb, grid, values, colormap, display,
                             [v for v, _ in levels], points)

    def panel(draw, x0, y0, width, height, font):
        y = y0
        for line in _wrap(draw, title, font, width):
            _put(draw, (x0, y), line, font, _INK)
            y += font.size + 4
        bar_top, bar_height, bar_width = y + font.size // 2 + 4, int(min(height * 0.6, 320)), 22
        shown = np.linspace(1.0, 0.0, bar_height)
        rgb = colormap.rgb(shown)
        alpha = colormap.alpha(shown, OVERLAY_MAX_ALPHA)
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
        if points:
            cx, cy, r = x0 + 8, y + font.size / 2, 6
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(0, 0, 0), width=2)
            _put(draw, (x0 + 22, y), 'key point%s' % ('s' if len(points) > 1 else ''), font,
                 _INK)

    return _compose(tinted, 230, caption, slide_mpp, grid.image_width, panel)


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
