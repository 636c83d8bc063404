"""Embedding speed and memory: our pipeline against the bare forward pass and a naive reader.

    python benchmarks/bench_embed.py [--batch-size 32] [--precision auto] [--quick]
    python benchmarks/bench_embed.py --first-click [--compile]   # only the settings, parity
                                                                  # and time-to-heatmap part

Measured in one run, on one model (a ViT-S/16 loaded through the real ``local:`` path), batch
size, precision and device:

(a) bare model forward throughput on random tensors: the limit;
(b) our end-to-end tiles/s on real tissue (open, tissue mask, read, embed; model load shown
    apart), and its ratio to (a);
(c) a naive baseline that reads overlapping tiles one by one with ``tileIterator`` and
    transforms each on the CPU with torchvision (glass included, as peers do), at stride = tile
    and stride = tile / 2;
(d) the share of cells the tissue mask skips;
(e) peak RSS of a fresh process embedding slides of 4x and 16x the sample's area.

(f) the first click (``first_click.py``): every precision x layout of the bare forward, the
    pipeline's embed stage with ``auto`` against the best of them, for the bundled model and a
    ViT-S, and time to the first preview heatmap against the final one on the 16x slide.

Prints a table and writes ``benchmarks/results/bench_embed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import first_click
from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))


def make_model_dir(folder: str, architecture: str = 'vit_small_patch16_224') -> str:
    """A ViT (S/16 by default) with random weights saved the way timm's hub exporter does."""
    import timm

    path = os.path.join(folder, architecture)
    if not os.path.exists(os.path.join(path, 'model.safetensors')):
        model = timm.create_model(architecture, pretrained=False, num_classes=0)
        timm.models.save_for_hf(model, path, safe_serialization=True)
    return 'local:' + path


def make_slide(folder: str, repeat: int) -> str:
    """The sample's tissue mirrored ``repeat`` x ``repeat`` times, as a pyramidal JPEG TIFF."""
    import numpy as np
    import slides

    path = os.path.join(folder, 'tissue_x%d.tiff' % (repeat * repeat))
    if not os.path.exists(path):
        base = slides.read_sample()
        row = np.concatenate([base if i % 2 == 0 else base[:, ::-1] for i in range(repeat)], 1)
        tiled = np.concatenate([row if i % 2 == 0 else row[::-1] for i in range(repeat)], 0)
        slides.write_pyramid(path, np.ascontiguousarray(tiled), slides.SAMPLE_MPP)
    return path


def bare_forward(model_name: str, batch: int, precision: str, repeats: int) -> dict:
    """Forward passes on a random batch already on the device: the throughput limit."""
    import statistics

    import torch

    from EmbeddingSimilarity.engine.embedding import EmbeddingEngine, choose_device
    from EmbeddingSimilarity.models import get_spec
    from EmbeddingSimilarity.models.loaders import build_embedder

    spec = get_spec(model_name)
    engine = EmbeddingEngine(build_embedder(spec), choose_device('auto'), precision, batch)
    x = torch.randn(batch, 3, spec.input_size, spec.input_size, device=engine.device)
    times = []
    with torch.inference_mode(), engine._autocast():
        for index in range(repeats + 2):
            _sync(engine.device)
            started = time.perf_counter()
            engine.model(x)
            _sync(engine.device)
            if index >= 2:  # two warm-up passes
                times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {'batches': len(times), 'median_batch_seconds': median,
            'tiles_per_s': batch / median}


def _sync(device) -> None:
    import torch

    if device.type == 'cuda':
        torch.cuda.synchronize()


def ours(slide: str, model_name: str, batch: int, precision: str, stride: int = 0) -> dict:
    from EmbeddingSimilarity.progress import NullProgress
    from EmbeddingSimilarity.steps.embed import compute_embeddings
    from EmbeddingSimilarity.steps.request import Request

    progress = NullProgress()
    started = time.perf_counter()
    outcome = compute_embeddings(Request.of(image=slide, model=model_name, batch_size=batch,
                                         precision=precision, stride=stride,
                                         reader_threads=2), progress)
    wall = time.perf_counter() - started
    load = progress.timings.get('load-model', 0.0)
    data = outcome.data
    cells = data.grid.rows * data.grid.cols
    embedded = int(data.embedded.sum())
    return {'cells': cells, 'embedded': embedded, 'embed_dim': int(data.embeddings.shape[-1]),
            'skipped_fraction': 1 - embedded / cells,
            'seconds_total': wall, 'seconds_model_load': load,
            'seconds_excluding_load': wall - load,
            'tiles_per_s': embedded / (wall - load),
            'stages': {k: round(v, 3) for k, v in progress.timings.items()}}


def naive(slide: str, model_name: str, batch: int, precision: str, stride: int) -> dict:
    """The peers' way: tileIterator over every tile, a PIL + torchvision transform per tile."""
    import large_image
    import torch
    from PIL import Image
    from torchvision import transforms

    from EmbeddingSimilarity.engine.embedding import EmbeddingEngine, choose_device
    from EmbeddingSimilarity.models import get_spec
    from EmbeddingSimilarity.models.loaders import build_embedder

    spec = get_spec(model_name)
    engine = EmbeddingEngine(build_embedder(spec), choose_device('auto'), precision, batch)
    transform = transforms.Compose([transforms.Resize(spec.input_size), transforms.ToTensor(),
                                    transforms.Normalize(spec.mean, spec.std)])
    large_image.config.setConfig('cache_backend', 'python')
    source = large_image.open(slide)
    overlap = spec.input_size - stride
    started = time.perf_counter()
    tiles = 0
    pending: list[torch.Tensor] = []

    def flush() -> None:
        with torch.inference_mode(), engine._autocast():
            engine.model(torch.stack(pending).to(engine.device)).float().cpu()
        pending.clear()

    for tile in source.tileIterator(
            scale={'magnification': 20}, tile_size=dict(width=spec.input_size,
                                                        height=spec.input_size),
            tile_overlap=dict(x=overlap, y=overlap),
            format=large_image.constants.TILE_FORMAT_NUMPY):
        pixels = tile['tile'][:, :, :3]
        image = Image.fromarray(pixels)
        if image.size != (spec.input_size, spec.input_size):
            padded = Image.new('RGB', (spec.input_size, spec.input_size), (255, 255, 255))
            padded.paste(image)
            image = padded
        pending.append(transform(image))
        tiles += 1
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    seconds = time.perf_counter() - started
    return {'tiles': tiles, 'seconds': seconds, 'tiles_per_s': tiles / seconds}


def child_peak_rss(slide: str, model_name: str, batch: int, precision: str) -> dict:
    """Run ``ours`` in a fresh process and report its peak resident set size."""
    command = [sys.executable, os.path.abspath(__file__), '--child', slide, '--model', model_name,
               '--batch-size', str(batch), '--precision', precision]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_child(args: argparse.Namespace) -> None:
    result = ours(args.child, args.model, args.batch_size, args.precision)
    result['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--precision', default='auto')
    parser.add_argument('--model', default='')
    parser.add_argument('--quick', action='store_true', help='skip the 16x slide and stride/2')
    parser.add_argument('--first-click', action='store_true',
                        help='only (f): settings, pipeline vs best bare forward, progressive')
    parser.add_argument('--compile', action='store_true',
                        help='also measure torch.compile (compile cost and gain)')
    parser.add_argument('--vit', default='vit_small_patch16_224',
                        help='timm ViT for (f), random weights (vit_large_patch16_224 = UNI size)')
    parser.add_argument('--child', default='', help=argparse.SUPPRESS)
    parser.add_argument('--work', default=os.path.join(tempfile.gettempdir(), 'es-bench'))
    args = parser.parse_args()
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    if args.child:
        run_child(args)
        return
    import torch

    from EmbeddingSimilarity.engine.embedding import choose_device, choose_precision

    os.makedirs(args.work, exist_ok=True)
    model_name = args.model or make_model_dir(args.work)
    device = choose_device('auto')
    precision = choose_precision(args.precision, 'bf16', device) \
        if args.precision == 'auto' else args.precision
    slide4 = make_slide(args.work, 2)
    slide16 = make_slide(args.work, 4)
    first = first_click.measure(
        slide4, slide16, [('efficientnet-lite0', 'efficientnet-lite0'),
                          ('%s (random)' % args.vit, make_model_dir(args.work, args.vit))],
        args.batch_size, ('fp32', 'bf16') if device.type == 'cpu' else ('fp32', 'fp16', 'bf16'),
        args.compile)
    first['cuda_checks'] = first_click.cuda_checks(make_model_dir(args.work, args.vit))
    print('CUDA checks: %s' % first['cuda_checks'])
    if args.first_click:
        save_report('bench_embed_first_click', dict(first, device=str(device),
                                                    torch=torch.__version__,
                                                    batch_size=args.batch_size))
        return
    report: dict = {'model': 'ViT-S/16 (random weights, via local:)' if not args.model
                    else args.model, 'batch_size': args.batch_size, 'precision': precision,
                    'device': str(device), 'torch': torch.__version__,
                    'cpu': platform.processor() or platform.machine(),
                    'threads': torch.get_num_threads()}
    # Each measurement is bracketed by bare forward passes, and compared with their mean, so
    # that drifts of a shared machine's speed hit both sides of a ratio alike.
    measurements = [
        ('ours_4x', 'ours, 4x slide, stride 224',
         lambda: ours(slide4, model_name, args.batch_size, precision)),
        ('naive_4x', 'naive tileIterator, 4x slide, stride 224',
         lambda: naive(slide4, model_name, args.batch_size, precision, stride=224)),
        ('rss_4x', 'ours, 4x slide, stride 224, fresh process',
         lambda: child_peak_rss(slide4, model_name, args.batch_size, precision)),
    ]
    if not args.quick:
        measurements += [
            ('ours_4x_stride112', 'ours, 4x slide, stride 112',
             lambda: ours(slide4, model_name, args.batch_size, precision, 112)),
            ('naive_4x_stride112', 'naive tileIterator, 4x slide, stride 112',
             lambda: naive(slide4, model_name, args.batch_size, precision, 112)),
            ('rss_16x', 'ours, 16x slide, stride 224, fresh process',
             lambda: child_peak_rss(slide16, model_name, args.batch_size, precision)),
        ]
    bare_runs = [bare_forward(model_name, args.batch_size, precision, repeats=6)['tiles_per_s']]
    rows = []
    for key, label, measure in measurements:
        result = measure()
        bare_runs.append(bare_forward(model_name, args.batch_size, precision,
                                      repeats=6)['tiles_per_s'])
        result['bare_forward_tiles_per_s'] = (bare_runs[-2] + bare_runs[-1]) / 2
        result['ratio_to_bare'] = result['tiles_per_s'] / result['bare_forward_tiles_per_s']
        report[key] = result
        rows.append((label, '%.1f tiles/s' % result['tiles_per_s'],
                     '%.1f' % result['bare_forward_tiles_per_s'],
                     '%.2f' % result['ratio_to_bare']))
    report['bare_forward_runs'] = bare_runs
    comparisons = {}
    for ours_key, naive_key in (('ours_4x', 'naive_4x'),
                                ('ours_4x_stride112', 'naive_4x_stride112')):
        if ours_key in report and naive_key in report:
            comparisons[ours_key] = {
                'per_tile_speedup': report[ours_key]['tiles_per_s']
                / report[naive_key]['tiles_per_s'],
                'whole_slide_speedup': report[naive_key]['seconds']
                / report[ours_key]['seconds_excluding_load']}
    report['ours_vs_naive'] = comparisons
    print('\nEmbedding benchmark: %s, batch %d, %s on %s (%d threads)' % (
        report['model'], args.batch_size, precision, device, report['threads']))
    header = ('measurement', 'throughput', 'bare forward', 'x bare')
    width = max(len(r[0]) for r in rows + [header])
    for row in [header] + rows:
        print('%-*s  %14s  %12s  %6s' % (width, *row))
    for key, values in comparisons.items():
        print('%s vs naive: %.2fx per embedded tile, %.2fx faster for the whole slide' % (
            key, values['per_tile_speedup'], values['whole_slide_speedup']))
    print('tissue mask skipped %.0f%% of cells (4x slide)'
          % (100 * report['ours_4x']['skipped_fraction']))
    for key in ('rss_4x', 'rss_16x'):
        if key in report:
            r = report[key]
            print('peak RSS %s: %.0f MiB (%d cells, grid %.1f MiB as float16)' % (
                key[4:], r['peak_rss_mib'], r['cells'], r['cells'] * r['embed_dim'] * 2 / 2 ** 20))
    report['first_click'] = first
    save_report('bench_embed', report)


if __name__ == '__main__':
    main()
