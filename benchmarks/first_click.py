"""The first click at the hardware's best, and the heatmap that sharpens while you wait.

Run through ``python benchmarks/bench_embed.py --first-click`` (also part of its full run).
Measured in one run, per model (the bundled EfficientNet-Lite0 and a random-weight ViT-S/16):

* bare forward passes on a device-resident batch at every precision x memory layout: the best
  is what the hardware can do;
* the pipeline's embed stage (read + convert + forward; the bundled model on the 1,017 tissue
  cells of the 16x slide, the ViT on the 4x slide; steady rate after two batches) with
  ``--precision auto --layout auto``, as a ratio to that best (target >= 0.85), and the
  setting ``auto`` chose;
* optionally (``--compile``) ``torch.compile``'s compile cost and its gain on the bare forward;
* time to the first preview heatmap against time to the final heatmap on the 16x slide
  (``--progressive true``, heatmap written to a ``.anot``; target <= 1/10).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time


def bare(model_name: str, batch: int, precision: str, layout: str, repeats: int = 5,
         compile_model: bool = False) -> dict:
    """Median tiles/s of forward passes on a random batch already on the device."""
    import torch

    from EmbeddingSimilarity.engine.embedding import EmbeddingEngine, choose_device
    from EmbeddingSimilarity.models import get_spec
    from EmbeddingSimilarity.models.loaders import build_embedder

    spec = get_spec(model_name)
    engine = EmbeddingEngine(build_embedder(spec), choose_device('auto'), precision, batch,
                             layout)
    model = engine.model
    x = torch.randn(batch, 3, spec.input_size, spec.input_size, device=engine.device)
    if engine.layout == 'channels_last':
        x = x.contiguous(memory_format=torch.channels_last)
    compile_seconds = 0.0
    if compile_model:
        model = torch.compile(model)
    times = []
    with torch.inference_mode(), engine._autocast():
        for index in range(repeats + 2):
            _sync(engine.device)
            started = time.perf_counter()
            model(x)
            _sync(engine.device)
            if index == 0:
                compile_seconds = time.perf_counter() - started
            if index >= 2:  # two warm-up passes (the first one compiles)
                times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {'precision': engine.precision, 'layout': engine.layout,
            'tiles_per_s': batch / median,
            'first_pass_seconds': compile_seconds if compile_model else None}


def _sync(device) -> None:
    import torch

    if device.type == 'cuda':
        torch.cuda.synchronize()


def settings_grid(model_name: str, batch: int, precisions: tuple[str, ...]) -> dict:
    out = {}
    for precision in precisions:
        for layout in ('contiguous', 'channels_last'):
            result = bare(model_name, batch, precision, layout)
            out['%s/%s' % (result['precision'], result['layout'])] = result['tiles_per_s']
    return out


def embed_stage(slide: str, model_name: str, batch: int, threads: int = 2) -> dict:
    """The pipeline with ``auto`` precision and layout: tiles/s of its embed stage, whole and
    steady (after the first two batches, as the bare forward leaves out two warm-up passes)."""
    from EmbeddingSimilarity.progress import NullProgress
    from EmbeddingSimilarity.steps.embed import compute_embeddings
    from EmbeddingSimilarity.steps.request import Request

    class Clocked(NullProgress):
        def __init__(self) -> None:
            super().__init__()
            self.ticks: list[tuple[float, int]] = []

        def advance(self, steps: int = 1) -> None:
            super().advance(steps)
            self.ticks.append((time.perf_counter(), steps))

    progress = Clocked()
    outcome = compute_embeddings(Request.of(image=slide, model=model_name, batch_size=batch,
                                         reader_threads=threads), progress)
    model = outcome.data.provenance.model
    seconds = progress.timings['embed']
    ticks = progress.ticks
    steady = (sum(steps for _, steps in ticks[2:]) / (ticks[-1][0] - ticks[1][0])
              if len(ticks) > 3 else outcome.cells_embedded / seconds)
    return {'tiles': outcome.cells_embedded, 'seconds': seconds,
            'tiles_per_s_whole': outcome.cells_embedded / seconds, 'tiles_per_s': steady,
            'chosen': '%s/%s' % (model.precision, model.layout)}


def model_parity(slide: str, model_name: str, batch: int, precisions: tuple[str, ...],
                 compile_model: bool, repeats: int = 2) -> dict:
    """Best bare configuration vs the pipeline's embed stage. The pipeline runs ``repeats``
    times, each bracketed by bare runs of the best configuration, and each ratio is taken to the
    mean of its two brackets, so a shared machine's drifts hit both sides alike."""
    grid = settings_grid(model_name, batch, precisions)
    best = max(grid, key=grid.get)
    brackets = [grid[best]]
    stages, ratios = [], []
    for _ in range(repeats):
        stages.append(embed_stage(slide, model_name, batch))
        brackets.append(bare(model_name, batch, *best.split('/'))['tiles_per_s'])
        ratios.append(stages[-1]['tiles_per_s'] / ((brackets[-2] + brackets[-1]) / 2))
    stage = stages[ratios.index(statistics.median_low(ratios))]
    result = {'bare': grid, 'best_bare': best, 'bare_brackets': brackets,
              'best_bare_tiles_per_s': statistics.mean(brackets), 'embed_stage': stage,
              'embed_stage_runs': stages, 'ratios_to_best_bare': ratios,
              'ratio_to_best_bare': statistics.median_low(ratios),
              'speedup_over_fp32_contiguous': grid[best] / grid['fp32/contiguous']}
    if compile_model:
        eager = bare(model_name, batch, *best.split('/'))
        compiled = bare(model_name, batch, *best.split('/'), compile_model=True)
        result['compile'] = {'compile_seconds': compiled['first_pass_seconds'],
                             'eager_tiles_per_s': eager['tiles_per_s'],
                             'compiled_tiles_per_s': compiled['tiles_per_s'],
                             'gain': compiled['tiles_per_s'] / eager['tiles_per_s']}
    return result


def time_to_heatmap(slide: str, model_name: str, batch: int, stride: int = 0) -> dict:
    """Seconds from the start of a progressive run to its first preview and to its end."""
    from EmbeddingSimilarity.cli.embedding_similarity import run
    from EmbeddingSimilarity.steps import progressive
    from EmbeddingSimilarity.steps.request import Request

    previews: list[float] = []
    original = progressive.Previewer.__call__
    started = time.perf_counter()

    def timed(self, data, todo):
        original(self, data, todo)
        previews.append(time.perf_counter() - started)
    progressive.Previewer.__call__ = timed
    try:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            outcome = run(Request.of(image=slide, model=model_name, batch_size=batch,
                                  stride=stride, keypoints=[(1000.0, 1500.0)],
                                  progressive='true',
                                  output_annotation=os.path.join(folder, 'h.anot')))
            total = time.perf_counter() - started
    finally:
        progressive.Previewer.__call__ = original
    return {'cells_embedded': outcome.cells_embedded, 'previews_seconds': previews,
            'first_heatmap_seconds': previews[0] if previews else total,
            'final_heatmap_seconds': total,
            'first_over_final': (previews[0] if previews else total) / total}


def measure(slide4: str, slide16: str, models: list[tuple[str, str]], batch: int,
            precisions: tuple[str, ...], compile_model: bool) -> dict:
    report: dict = {'models': {}}
    rows = []
    for index, (label, name) in enumerate(models):
        # the bundled model on the 16x slide's 1,017 tissue tiles; slower models on the 4x's
        result = model_parity(slide16 if index == 0 else slide4, name, batch, precisions,
                              compile_model)
        result['slide'] = os.path.basename(slide16 if index == 0 else slide4)
        report['models'][label] = result
        rows.append((label, '%s %.1f' % (result['best_bare'], result['best_bare_tiles_per_s']),
                     '%s %.1f' % (result['embed_stage']['chosen'],
                                  result['embed_stage']['tiles_per_s']),
                     '%.2f' % result['ratio_to_best_bare'],
                     '%.2f' % result['speedup_over_fp32_contiguous']))
    report['progressive'] = time_to_heatmap(slide16, models[0][1], batch)
    print('\nFirst click: best bare forward vs the pipeline\'s embed stage (batch %d)'
          % batch)
    header = ('model', 'best bare (tiles/s)', 'pipeline auto (tiles/s)', 'x best',
              'best/fp32')
    for row in [header] + rows:
        print('%-18s  %-26s  %-26s  %6s  %13s' % row)
    for label, result in report['models'].items():
        print('%s bare: %s' % (label, ', '.join('%s %.1f' % kv for kv in result['bare'].items())))
        if 'compile' in result:
            c = result['compile']
            print('%s torch.compile: %.1f s to compile, %.1f -> %.1f tiles/s (x%.2f)' % (
                label, c['compile_seconds'], c['eager_tiles_per_s'], c['compiled_tiles_per_s'],
                c['gain']))
    p = report['progressive']
    print('16x slide, progressive: first heatmap %.1f s, final %.1f s (first/final %.3f), '
          '%d cells' % (p['first_heatmap_seconds'], p['final_heatmap_seconds'],
                        p['first_over_final'], p['cells_embedded']))
    return report


def cuda_checks(model_name: str, huge_batch: int = 16384) -> dict:
    """On a GPU: the pinned, overlapped path gives the plain path's embeddings, and a batch
    that cannot fit is halved until it does (a real out-of-memory, not a simulated one)."""
    import numpy as np
    import torch

    from EmbeddingSimilarity.engine.build import load_engine

    if not torch.cuda.is_available():
        return {'cuda': 'not measured (no GPU)'}
    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 255, (96, 224, 224, 3), dtype=np.uint8)
    engine = load_engine(_spec(model_name), 'cuda', 'auto', 32)
    plain = engine.embed(tiles)
    kept: list = []
    engine.run(((np.arange(32 * i, 32 * i + 32), tiles[32 * i:32 * i + 32]) for i in range(3)),
               lambda cells, emb: kept.append(emb))
    overlapped = np.concatenate(kept)
    huge = load_engine(_spec(model_name), 'cuda', 'auto', huge_batch)
    started = time.perf_counter()
    many = np.repeat(tiles, max(1, huge_batch // len(tiles)), axis=0)
    huge.embed(many)
    return {'device': torch.cuda.get_device_name(0),
            'overlapped_equals_plain': bool(np.allclose(plain, overlapped, atol=1e-2)),
            'oom_back_offs': huge.back_offs, 'batch_after_back_off': huge.batch_size,
            'huge_batch_seconds': time.perf_counter() - started,
            'peak_memory_gib': torch.cuda.max_memory_allocated() / 2 ** 30}


def _spec(model_name: str):
    from EmbeddingSimilarity.models import get_spec

    return get_spec(model_name)
