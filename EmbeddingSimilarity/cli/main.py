"""The command lines of the Slicer CLIs: parse (:mod:`.arguments`), dispatch to the CLI's run,
and turn every error into one line and an exit code.

``EmbeddingSimilarity`` (a heatmap of tissue like the key points) and ``EmbeddingClusters`` (a
tissue map without a click) share the model, tiling, cache and Girder options.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from ..errors import UserError, first_line, redact
from ..terminal import guard_streams, say, settle
from .arguments import (
    build_parser,
    fill_outputs,
    flow,
    join_negative_values,
    to_request,
    xml_path,
)
from .guard import guard_outputs

PROG = 'EmbeddingSimilarity'
XML_PATH = xml_path(PROG)
SECRET_ARGS = ('girderToken',)

logger = logging.getLogger('EmbeddingSimilarity')


def _runner(cli: str) -> Callable:
    """The ``run`` of ``cli``'s flow file (imported late: it pulls in the heavy parts)."""
    return flow(cli).run


def describe_args(args: argparse.Namespace) -> str:
    """The parameters, for the job log, with secrets masked."""
    parts = []
    for key, value in sorted(vars(args).items()):
        shown = '***' if key in SECRET_ARGS and value else value
        parts.append('%s=%s' % (key, shown))
    return ', '.join(parts)


class _Redacting(logging.Formatter):
    """Log lines with the credentials of any URL masked (``http://user:pass@host``)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(debug: bool, cli: str = PROG) -> None:
    """Log lines on stderr, each starting with the name of the CLI that runs (not the
    package's: EmbeddingClusters' lines say EmbeddingClusters)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting(cli + ': %(message)s' if not debug else
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
        say('%s: error: %s: %s' % (PROG, os.path.basename(path), error))
    if failed:
        say('%s: %d of %d slides failed' % (PROG, len(failed), len(results)))
        return getattr(failed[0][1], 'exit_code', 1)
    return 0


def _stop_on_sigterm() -> None:
    """Turn SIGTERM (docker stop, a cancelled Girder job) into a clean exit, so temporary files
    are removed and finished work stays in the checkpoint."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None, cli: str = PROG) -> int:
    """Run ``cli`` with ``argv`` (default: the process's arguments); the exit code (never 1
    because of the terminal: :mod:`..terminal`)."""
    guard_streams()
    try:
        return _main(argv, cli)
    finally:
        settle()


def _main(argv: list[str] | None, cli: str) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = '--debug' in argv
    setup_logging(debug, cli)
    _stop_on_sigterm()
    started = time.perf_counter()
    try:
        parser = build_parser(cli)
        args = parser.parse_args(join_negative_values(parser, argv))
        logger.debug('parameters: %s', describe_args(args))
        if cli == PROG and os.path.isdir(args.inputImageFile):
            guard_outputs(args, xml_path(cli))
            return _run_folder(args)
        fill_outputs(args, cli)
        guard_outputs(args, xml_path(cli))
        from ..progress import Progress

        outcome = _runner(cli)(to_request(args, cli), Progress())
    except UserError as exc:
        if debug:
            logger.exception('error')
        say('%s: error: %s' % (cli, exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        kept = getattr(exc, 'kept', '') or 'stopped before any embedding was computed'
        say('%s: interrupted; %s' % (cli, kept))
        return 130
    except Exception as exc:  # a bug: say so in one line unless debugging
        if debug:
            raise
        say('%s: internal error: %s: %s (rerun with --debug for the traceback)'
            % (cli, type(exc).__name__, first_line(exc)))
        return 1
    _report(outcome, time.perf_counter() - started)
    return 0


def _report(outcome, seconds: float) -> None:
    if hasattr(outcome, 'summary'):  # CollectionSimilarity
        logger.info('done in %.1f s: %s', seconds, outcome.summary())
        for path in outcome.files:
            logger.info('wrote %s', path)
        return
    summary = '%d x %d cells, %d embedded now' % (outcome.data.grid.rows, outcome.data.grid.cols,
                                                  outcome.cells_embedded)
    if outcome.cache_source:
        summary += ', cache %s reused' % outcome.cache_source
    if outcome.clusters is not None:
        summary += ', %d clusters' % outcome.clusters.k
    if outcome.annotation_id:
        summary += ', annotation %s' % outcome.annotation_id
    logger.info('done in %.1f s: %s', seconds, summary)
    for path in outcome.files:
        logger.info('wrote %s', path)


def clusters_main(argv: list[str] | None = None) -> int:
    """The ``EmbeddingClusters`` console script."""
    return main(argv, 'EmbeddingClusters')


def collection_main(argv: list[str] | None = None) -> int:
    """The ``CollectionSimilarity`` console script."""
    return main(argv, 'CollectionSimilarity')
