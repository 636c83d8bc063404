"""The gallery PNG of a collection search: the best matches as tiles read from their slides,
best first, each labelled with its rank, score and slide (the query image's tiles framed).
"""

from __future__ import annotations

import numpy as np

from .overlay import write_png
from .picture import _font, _put, _text_width

GALLERY_MAX = 100
"""At most this many tiles (the CSV holds every match)."""
TILE_PX = 192
COLUMNS = 10
_LABEL_PX = 34
_PAD = 6
_QUERY_FRAME = (230, 60, 30)


def _tile(target, row: int, col: int, sources: dict) -> np.ndarray:
    """The cell's pixels at ``TILE_PX`` square, white where the cell leaves the slide."""
    from ..slide.source import open_slide, read_region

    if target.path not in sources:
        sources[target.path] = open_slide(target.path)
    left, top, right, _ = target.grid.cell_box(row, col)
    factor = (right - left) / TILE_PX
    return read_region(sources[target.path], left, top, TILE_PX, TILE_PX, factor)


def gallery_image(rows: list[dict], targets: list, title: str = '') -> np.ndarray:
    """RGB uint8 picture of up to :data:`GALLERY_MAX` matches (``rows`` as in the CSV)."""
    from PIL import Image, ImageDraw

    rows = rows[:GALLERY_MAX]
    by_path = {t.path: t for t in targets}
    columns = min(COLUMNS, len(rows))
    lines = -(-len(rows) // columns)
    cell_w, cell_h = TILE_PX + _PAD, TILE_PX + _LABEL_PX + _PAD
    header = 30
    image = Image.new('RGB', (columns * cell_w + _PAD, header + lines * cell_h + _PAD), 'white')
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    sources: dict = {}
    _put(draw, (_PAD, 6), title or 'Best %d matches, best first (score: cosine similarity; '
         'red frame: the query image)' % len(rows), font, (20, 20, 20))
    for index, row in enumerate(rows):
        x0 = _PAD + (index % columns) * cell_w
        y0 = header + (index // columns) * cell_h
        target = by_path[row['path']]
        image.paste(Image.fromarray(_tile(target, row['row'], row['col'], sources)), (x0, y0))
        if row['query']:
            draw.rectangle((x0, y0, x0 + TILE_PX - 1, y0 + TILE_PX - 1), outline=_QUERY_FRAME,
                           width=3)
        _put(draw, (x0, y0 + TILE_PX + 2), '#%d  %.3f' % (row['rank'], row['score']), font,
             (20, 20, 20))
        _put(draw, (x0, y0 + TILE_PX + 19), _fit_text(draw, row['image'], small, TILE_PX),
             small, (90, 90, 90))
    return np.asarray(image)


def _fit_text(draw, text: str, font, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if _text_width(draw, text, font) <= width:
        return text
    while text and _text_width(draw, text + '…', font) > width:
        text = text[:-1]
    return text + '…'


def write_gallery(path: str, rows: list[dict], targets: list) -> None:
    write_png(path, gallery_image(rows, targets))
