"""Dask scale-out: the same slide embedded in-process and on local clusters of 1 and 2 workers.

    python benchmarks/bench_dask.py [--model efficientnet-lite0] [--stride 112]

Each worker is a process with one model and one torch thread; the in-process run uses all
cores. Prints a table and writes ``benchmarks/results/bench_dask.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))
sys.path.insert(0, HERE)


def timed(request) -> dict:
    from EmbeddingSimilarity.steps.embed import compute_embeddings

    started = time.perf_counter()
    outcome = compute_embeddings(request)
    seconds = time.perf_counter() - started
    return {'seconds': seconds, 'cells': outcome.cells_embedded,
            'tiles_per_s': outcome.cells_embedded / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='efficientnet-lite0')
    parser.add_argument('--stride', type=int, default=112)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--work', default=os.path.join(tempfile.gettempdir(), 'es-bench'))
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    from bench_embed import make_slide

    from EmbeddingSimilarity.steps.request import Request

    slide = make_slide(args.work, 2)
    common = dict(image=slide, model=args.model, stride=args.stride,
                  batch_size=args.batch_size)
    report = {'model': args.model, 'slide': os.path.basename(slide), 'stride': args.stride,
              'cpus': os.cpu_count()}
    report['in_process'] = timed(Request.of(**common))
    for workers in (1, 2):
        report['dask_%d_workers' % workers] = timed(Request.of(
            **common, scheduler='local', num_workers=workers, threads_per_worker=1))
    one = report['dask_1_workers']['seconds']
    report['speedup_2_vs_1_workers'] = one / report['dask_2_workers']['seconds']
    print('\nDask scale-out: %s on %s, stride %d, %d CPUs (cluster start-up included)' % (
        args.model, report['slide'], args.stride, report['cpus']))
    for key in ('in_process', 'dask_1_workers', 'dask_2_workers'):
        r = report[key]
        print('  %-18s %6.1f s  %6.1f tiles/s  (%d tiles)' % (key, r['seconds'],
                                                             r['tiles_per_s'], r['cells']))
    print('  2 workers vs 1: %.2fx' % report['speedup_2_vs_1_workers'])
    save_report('bench_dask', report)


if __name__ == '__main__':
    main()
