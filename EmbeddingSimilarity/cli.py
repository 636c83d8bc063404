"""Command line: parse the Slicer CLI arguments, run the pipeline, map errors to exit codes.

The parser is built from ``EmbeddingSimilarity.xml`` (so DSA and a terminal see the same
options), plus a few options for people at a terminal: ``--output-dir``, ``--list-models``,
``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import time

from .errors import OutputError, UserError, first_line

XML_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'EmbeddingSimilarity.xml')
PROG = 'EmbeddingSimilarity'
SECRET_ARGS = ('girderToken',)

logger = logging.getLogger('EmbeddingSimilarity')


class _ListModelsAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .models.table import models_table

        print(models_table())
        parser.exit()


class _DownloadModelAction(argparse.Action):
    """Fetch a model's weights into the Hugging Face cache (and check they load), then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        from .models import get_spec
        from .models.loaders import build_embedder, resolved_revision

        spec = get_spec(values)
        build_embedder(spec)
        revision = resolved_revision(spec)
        print('%s is ready%s' % (spec.name, ' (%s at %s)' % (spec.repo_id, revision)
                                 if revision else ''))
        parser.exit()


def _one_line_error(message: str) -> None:
    """argparse's error, as one line (the usage block is what --help is for)."""
    raise UserError('%s; see %s --help' % (message, PROG))


def build_parser() -> argparse.ArgumentParser:
    from slicer_cli_web import CLIArgumentParser

    parser = CLIArgumentParser(XML_PATH)
    parser.prog = PROG
    parser.error = _one_line_error
    extra = parser.add_argument_group('terminal use (not part of the Slicer CLI)')
    extra.add_argument('--output-dir', dest='outputDir', default='',
                       help='write <stem>.<model>.npz, <stem>.similarity.anot and '
                            '<stem>.similarity.png here (<stem>: the image name without its '
                            'extension; never the image itself) for '
                            'any output not given explicitly')
    extra.add_argument('--list-models', action=_ListModelsAction,
                       help='list the models: name, source, embedding size, scale, gated, licence')
    extra.add_argument('--download-model', metavar='MODEL', action=_DownloadModelAction,
                       help='download MODEL into the Hugging Face cache (HF_HOME) and check that '
                            'it loads, then exit; HF_TOKEN is used for gated models')
    extra.add_argument('--debug', action='store_true',
                       help='show tracebacks and debug logging')
    return parser


def _fill_outputs(args: argparse.Namespace) -> None:
    """Default output paths under --output-dir (or the current folder when nothing else is set).

    The image is checked first, so a mistyped path creates no output folder.
    """
    from .paths import check_image

    check_image(args.inputImageFile)
    girder = bool(args.girderApiUrl and args.girderToken)
    outputs = ('outputEmbeddingFile', 'outputAnnotationFile', 'outputOverlayFile')
    folder = args.outputDir
    if not folder and not girder and not any(getattr(args, name) for name in outputs):
        folder = '.'
    if not folder:
        return
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise OutputError('cannot create output folder %s: %s' % (folder, exc.strerror)) \
                from exc
    from .request import default_output_names

    names = default_output_names(args.inputImageFile, _model_name(args))
    for name, key in (('outputEmbeddingFile', 'embeddings'),
                      ('outputAnnotationFile', 'annotation'), ('outputOverlayFile', 'overlay')):
        if not getattr(args, name):
            setattr(args, name, os.path.join(folder, names[key]))


def _model_name(args: argparse.Namespace) -> str:
    """--custom-model when given, else the --model choice."""
    return (args.customModel or '').strip() or args.model


def to_request(args: argparse.Namespace):
    from .request import Request, parse_points

    return Request(
        image=args.inputImageFile,
        image_id=(args.inputImageId or '').strip(),
        model=_model_name(args),
        trust_remote_code=bool(args.trustRemoteCode),
        keypoints=parse_points(args.keypoints, 'key points'),
        negative_keypoints=parse_points(args.negativeKeypoints, 'negative key points'),
        tile_size=args.tileSize,
        stride=args.stride,
        mpp=args.mpp,
        magnification=args.magnification,
        pooling='' if args.pooling == 'default' else args.pooling,
        batch_size=args.batchSize,
        tissue_threshold=args.tissueThreshold,
        aggregation=args.aggregation,
        threshold=args.similarityThreshold,
        scaling=args.scaling,
        colour=args.heatmapColor,
        annotation_name=args.annotationName,
        input_embeddings=args.inputEmbeddingFile or '',
        output_embeddings=args.outputEmbeddingFile or '',
        output_annotation=args.outputAnnotationFile or '',
        output_overlay=args.outputOverlayFile or '',
        annotation_id=(args.annotationId or '').strip(),
        api_url=(args.girderApiUrl or '').strip(),
        token=(args.girderToken or '').strip(),
        device=args.device,
        precision=args.precision,
        reader_threads=args.readerThreads,
        checkpoint_seconds=args.checkpointSeconds,
        scheduler=(args.scheduler or '').strip(),
        num_workers=args.num_workers,
        threads_per_worker=args.num_threads_per_worker,
    )


def describe_args(args: argparse.Namespace) -> str:
    """The parameters, for the job log, with secrets masked."""
    parts = []
    for key, value in sorted(vars(args).items()):
        shown = '***' if key in SECRET_ARGS and value else value
        parts.append('%s=%s' % (key, shown))
    return ', '.join(parts)


def setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(name)s: %(message)s' if not debug else
                                           '%(asctime)s %(name)s %(levelname)s: %(message)s'))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ('large_image', 'distributed', 'tornado'):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _run_folder(args: argparse.Namespace) -> int:
    """Multi-slide mode: embed every slide of a folder; one line per slide that failed."""
    from .batch import run_folder

    folder = args.outputDir or '.'
    os.makedirs(folder, exist_ok=True)
    results = run_folder(to_request(args), folder)
    failed = [(path, error) for path, _, error in results if error is not None]
    for path, summary, error in results:
        if error is None:
            logger.info('%s: %d x %d cells, %d embedded now -> %s', path, *summary['grid'],
                        summary['cells_embedded'], ', '.join(summary['files']))
    for path, error in failed:
        print('%s: error: %s: %s' % (PROG, os.path.basename(path), error), file=sys.stderr)
    if failed:
        print('%s: %d of %d slides failed' % (PROG, len(failed), len(results)), file=sys.stderr)
        return getattr(failed[0][1], 'exit_code', 1)
    return 0


def _stop_on_sigterm() -> None:
    """Turn SIGTERM (docker stop, a cancelled Girder job) into a clean exit, so temporary files
    are removed and finished work stays in the checkpoint."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def join_negative_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--keypoints -1,-1`` as ``--keypoints=-1,-1``.

    argparse takes a value that starts with ``-`` (and is not a plain negative number) for an
    option, yet Slicer CLI Web passes every value as a separate argument, and ``-1,-1`` is a
    region's "nothing". Only options that take a value are joined.
    """
    out: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        action = parser._option_string_actions.get(arg)
        if (action is not None and action.nargs != 0 and index + 1 < len(argv)
                and _NEGATIVE_VALUE.match(argv[index + 1])):
            out.append('%s=%s' % (arg, argv[index + 1]))
            index += 2
            continue
        out.append(arg)
        index += 1
    return out


_NEGATIVE_VALUE = re.compile(r'^-[\d.]')


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = '--debug' in argv
    setup_logging(debug)
    _stop_on_sigterm()
    started = time.perf_counter()
    try:
        parser = build_parser()
        args = parser.parse_args(join_negative_values(parser, argv))
        logger.debug('parameters: %s', describe_args(args))
        if os.path.isdir(args.inputImageFile):
            return _run_folder(args)
        _fill_outputs(args)
        from .pipeline import run
        from .progress import Progress

        outcome = run(to_request(args), Progress())
    except UserError as exc:
        if debug:
            logger.exception('error')
        print('%s: error: %s' % (PROG, exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        kept = getattr(exc, 'kept', '') or 'stopped before any embedding was computed'
        print('%s: interrupted; %s' % (PROG, kept), file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line unless debugging
        if debug:
            raise
        print('%s: internal error: %s: %s (rerun with --debug for the traceback)'
              % (PROG, type(exc).__name__, first_line(exc)),
              file=sys.stderr)
        return 1
    summary = '%d x %d cells, %d embedded now' % (outcome.data.grid.rows, outcome.data.grid.cols,
                                                  outcome.cells_embedded)
    if outcome.cache_source:
        summary += ', cache %s reused' % outcome.cache_source
    if outcome.annotation_id:
        summary += ', annotation %s' % outcome.annotation_id
    logger.info('done in %.1f s: %s', time.perf_counter() - started, summary)
    for path in outcome.files:
        logger.info('wrote %s', path)
    return 0
