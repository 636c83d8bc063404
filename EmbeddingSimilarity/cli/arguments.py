"""The command-line arguments of every CLI: a parser built from the CLI's XML (so DSA and a
terminal see the same options) plus the options for people at a terminal, default output
names, and the :class:`~.request.Request` the arguments make.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import re
from types import ModuleType

from ..errors import OutputError, UserError
from ..query.shapes import parse_shapes, points_of, regions_of
from ..steps.options import default_output_names
from ..steps.request import Request
from .paths import check_image

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The package folder: the CLIs' XMLs live there, beside the Slicer CLI entry script."""


def flow(cli: str) -> ModuleType:
    """The flow file of ``cli``: ``EmbeddingClusters`` -> :mod:`.embedding_clusters`, which
    defines ``run(request, progress)``, ``TASK`` (the word its default output names carry) and
    ``ANNOTATION_NAME``. A new CLI is one such file and one XML beside the package's."""
    module = re.sub(r'(?<!^)(?=[A-Z])', '_', cli).lower()
    return importlib.import_module('%s.%s' % (__package__, module))


OUTPUT_NAMES = {'outputEmbeddingFile': 'embeddings', 'outputAnnotationFile': 'annotation',
                'outputOverlayFile': 'overlay', 'outputTableFile': 'table',
                'outputResultsFile': 'table', 'outputGalleryFile': 'overlay'}
"""Output parameters and the key of their default name in :func:`default_output_names`."""


def xml_path(cli: str) -> str:
    return os.path.join(PACKAGE_DIR, cli + '.xml')


class _ListModelsAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..models.table import models_table

        print(models_table())
        parser.exit()


class _DownloadModelAction(argparse.Action):
    """Fetch a model's weights into the Hugging Face cache (and check they load), then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        from ..models import get_spec
        from ..models.loaders import build_embedder, resolved_revision

        spec = get_spec(values)
        build_embedder(spec)
        revision = resolved_revision(spec)
        print('%s is ready%s' % (spec.name, ' (%s at %s)' % (spec.repo_id, revision)
                                 if revision else ''))
        parser.exit()


def _one_line_error(cli: str, message: str) -> None:
    """argparse's error, as one line (the usage block is what --help is for); ctk_cli's
    "invalid parseValue value" says which value, not what is wrong with it."""
    message = message.replace('invalid parseValue value', 'not a value of the right type '
                              '(a whole number, a number or a choice, as --help says)')
    raise UserError('%s; see %s --help' % (message, cli))


def build_parser(cli: str = 'EmbeddingSimilarity') -> argparse.ArgumentParser:
    """The parser of ``cli``, built from its XML, plus the options for people at a terminal."""
    from slicer_cli_web import CLIArgumentParser

    parser = CLIArgumentParser(xml_path(cli))
    parser.prog = cli
    parser.error = functools.partial(_one_line_error, cli)
    extra = parser.add_argument_group('terminal use (not part of the Slicer CLI)')
    extra.add_argument('--output-dir', dest='outputDir', default='',
                       help='write <stem>.<model>.npz, <stem>.%s.anot, .png (and .csv) here '
                            'for any output not given explicitly (<stem>: the image name '
                            'without its extension, so never the image itself)' % flow(cli).TASK)
    extra.add_argument('--picture-size', dest='pictureSize', type=int, default=1024,
                       metavar='PX', help='longest side of the PNG picture\'s slide thumbnail '
                                          '(default 1024)')
    extra.add_argument('--list-models', action=_ListModelsAction,
                       help='list the models: name, source, embedding size, scale, gated, licence')
    extra.add_argument('--download-model', metavar='MODEL', action=_DownloadModelAction,
                       help='download MODEL into the Hugging Face cache (HF_HOME) and check that '
                            'it loads, then exit; HF_TOKEN is used for gated models')
    extra.add_argument('--debug', action='store_true',
                       help='show tracebacks and debug logging')
    return parser


def fill_outputs(args: argparse.Namespace, cli: str = 'EmbeddingSimilarity') -> None:
    """Default output paths under --output-dir (or the current folder when nothing else is set).

    The image is checked first, so a mistyped path creates no output folder.
    """
    check_image(args.inputImageFile)
    girder = bool(args.girderApiUrl and args.girderToken)
    outputs = [name for name in OUTPUT_NAMES if hasattr(args, name)]
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
    names = default_output_names(args.inputImageFile, _model_name(args), flow(cli).TASK)
    for name in outputs:
        if not getattr(args, name):
            setattr(args, name, os.path.join(folder, names[OUTPUT_NAMES[name]]))


def _model_name(args: argparse.Namespace) -> str:
    """--custom-model when given, else the --model choice."""
    return (args.customModel or '').strip() or args.model


# Request field <- the XML parameter (argparse dest) that fills it; a parameter a CLI's XML lacks
# leaves the Request's default
PLAIN_FIELDS = {
    'image': 'inputImageFile', 'trust_remote_code': 'trustRemoteCode', 'scorer': 'scorer',
    'tile_size': 'tileSize', 'stride': 'stride',
    'mpp': 'mpp', 'magnification': 'magnification', 'batch_size': 'batchSize',
    'tissue_threshold': 'tissueThreshold', 'aggregation': 'aggregation',
    'threshold': 'similarityThreshold', 'scaling': 'scaling', 'colour': 'heatmapColor',
    'colormap': 'colormap', 'display': 'display', 'clusters': 'clusters', 'seed': 'seed',
    'annotation_name': 'annotationName', 'picture_size': 'pictureSize', 'device': 'device',
    'precision': 'precision', 'layout': 'layout', 'progressive': 'progressive',
    'reader_threads': 'readerThreads', 'keep_output_files': 'keepOutputFiles',
    'checkpoint_seconds': 'checkpointSeconds', 'num_workers': 'num_workers',
    'threads_per_worker': 'num_threads_per_worker', 'top_k': 'topK'}
TEXT_FIELDS = {
    'image_id': 'inputImageId', 'positive_annotations': 'positiveAnnotations',
    'negative_annotations': 'negativeAnnotations', 'annotation_id': 'annotationId',
    'api_url': 'girderApiUrl', 'token': 'girderToken', 'scheduler': 'scheduler',
    'collection': 'collection', 'index': 'indexFile', 'embeddings_folder': 'embeddingsFolder',
    'text_queries': 'textQueries', 'negative_text_queries': 'negativeTextQueries',
    'label_prompts': 'labelPrompts'}
"""Stripped strings (ids, addresses, names)."""
FILE_FIELDS = {
    'output_hits': 'outputHitsFile', 'return_parameter_file': 'returnParameterFile',
    'input_embeddings': 'inputEmbeddingFile', 'output_embeddings': 'outputEmbeddingFile',
    'output_annotation': 'outputAnnotationFile', 'output_overlay': 'outputOverlayFile',
    'output_table': 'outputTableFile', 'output_results': 'outputResultsFile',
    'output_gallery': 'outputGalleryFile'}
"""Paths, '' when not given."""


def to_request(args: argparse.Namespace, cli: str = 'EmbeddingSimilarity') -> Request:
    """The :class:`Request` of parsed arguments (the annotation name defaults to the CLI's)."""
    defaults = Request.of(image='', annotation_name=flow(cli).ANNOTATION_NAME).flat()
    values = {}
    for field, name in PLAIN_FIELDS.items():
        values[field] = getattr(args, name, defaults[field])
    for field, name in TEXT_FIELDS.items():
        values[field] = (getattr(args, name, None) or defaults[field] or '').strip()
    for field, name in FILE_FIELDS.items():
        values[field] = getattr(args, name, None) or ''
    positives = (parse_shapes(getattr(args, 'keypoints', None), 'key points')
                 + parse_shapes(getattr(args, 'keyRegions', None), 'key regions'))
    negatives = parse_shapes(getattr(args, 'negativeKeypoints', None), 'negative key points')
    pooling = getattr(args, 'pooling', 'default')
    return Request.of(
        model=_model_name(args), trust_remote_code=bool(values.pop('trust_remote_code')),
        keypoints=points_of(positives), key_regions=regions_of(positives),
        negative_keypoints=points_of(negatives), negative_regions=regions_of(negatives),
        pooling='' if pooling == 'default' else pooling, **values)


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


