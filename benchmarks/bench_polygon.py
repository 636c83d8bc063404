"""How a traced outline's size costs a click: a closed polyline annotation of N vertices (an
exemplar) turned into a key shape and its cells, for N up to a million.

    python benchmarks/bench_polygon.py [--largest 1000000]

Prints seconds per step and the time per vertex at each size (flat = linear), and writes
benchmarks/results/bench_polygon.json. The grid is the sample slide's at 224 px (a 2220 x 2967
image), the outline a circle of radius 900 px around its centre.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from results_file import save_report

from EmbeddingSimilarity.query.cells import shape_cells
from EmbeddingSimilarity.slide.tiling import plan_grid
from EmbeddingSimilarity.steps.exemplars import element_shape


def outline(vertices: int) -> dict:
    """A closed polyline element of ``vertices`` points, as Girder returns it."""
    return {'type': 'polyline', 'closed': True,
            'points': [[1110 + 900 * math.cos(2 * math.pi * i / vertices),
                        1480 + 900 * math.sin(2 * math.pi * i / vertices), 0]
                       for i in range(vertices)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--largest', type=int, default=1_000_000)
    args = parser.parse_args()
    grid = plan_grid(2220, 2967, 224, 224, 1.0)
    rows = []
    size = 1000
    while size <= args.largest:
        element = outline(size)
        started = time.perf_counter()
        shape = element_shape(element)
        parsed = time.perf_counter()
        cells = shape_cells(grid, shape)
        done = time.perf_counter()
        rows.append({'vertices': size, 'shape_s': parsed - started, 'cells_s': done - parsed,
                     'cells': len(cells), 'us_per_vertex': 1e6 * (done - started) / size})
        size *= 10
    print('%10s %10s %10s %8s %14s' % ('vertices', 'shape s', 'cells s', 'cells',
                                       'µs per vertex'))
    for row in rows:
        print('%10d %10.3f %10.3f %8d %14.2f' % (row['vertices'], row['shape_s'], row['cells_s'],
                                                row['cells'], row['us_per_vertex']))
    save_report('bench_polygon', {'rows': rows})


if __name__ == '__main__':
    main()
