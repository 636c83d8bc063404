"""Human-readable listings of the registry: a terminal table and the docs' RST table."""

from __future__ import annotations

from .registry import list_specs
from .spec import ASSUMED, ModelSpec, assumed_facts

COLUMNS = ('name', 'loads from', 'dim', 'pooling', 'scale', 'scale source', 'norm source',
           'gated', 'licence', 'needs', 'assumed')


def _where(spec: ModelSpec) -> str:
    if spec.source == 'factory':
        return 'bundled' if spec.repo_id and spec.repo_id.startswith(
            'EmbeddingSimilarity.models.builtin') else 'external code'
    return '%s %s' % (spec.source, spec.repo_id) if spec.repo_id else spec.source


def needs(spec: ModelSpec) -> str:
    """What a model needs beyond this package: remote code, or modules outside PyPI."""
    parts = list(spec.requires)
    if spec.needs_remote_code:
        parts.append('remote code')
    return ', '.join(parts) or '-'


class _Sources:
    """Numbers each distinct source once, so the table stays narrow and the URLs follow it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def label(self, text: str) -> str:
        if text not in self.texts:
            self.texts.append(text)
        number = '[%d]' % (self.texts.index(text) + 1)
        return ASSUMED + ' ' + number if text.startswith(ASSUMED) else number

    def lines(self) -> list[str]:
        return ['[%d] %s' % (i + 1, text) for i, text in enumerate(self.texts)]


def _rows(specs: list[ModelSpec], sources: _Sources) -> list[tuple[str, ...]]:
    return [(spec.name, _where(spec), str(spec.embed_dim), spec.pooling, spec.scale_text,
             sources.label(spec.scale_source), sources.label(spec.norm_source),
             'yes' if spec.gated else 'no', spec.license, needs(spec),
             ', '.join(assumed_facts(spec)) or '-') for spec in specs]


def _layout(header: tuple[str, ...], rows: list[tuple[str, ...]], rule: str) -> list[str]:
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return '  '.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    ruler = '  '.join(rule * w for w in widths)
    if rule == '=':
        return [ruler, line(header), ruler] + [line(row) for row in rows] + [ruler]
    return [line(header), ruler] + [line(row) for row in rows]


def models_table() -> str:
    """A plain-text table of every known model, then the sources its columns number."""
    sources = _Sources()
    lines = _layout(COLUMNS, _rows(list_specs(), sources), '-')
    return '\n'.join(lines + ['', 'Sources (scale, normalisation):'] + sources.lines())


def models_rst() -> str:
    """``docs/models.rst``: the catalog as a reStructuredText table, with sources."""
    from .catalog import BUILTIN_SPECS
    from .spec import POOLING_RULES

    sources = _Sources()
    header = ('Model', 'Loads from', 'Dim', 'Pooling', 'Scale', 'Scale source', 'Norm source',
              'Input', 'Precision', 'Gated', 'Licence', 'Needs', 'Text tower', 'Assumed')
    rows = [row[:7] + ('%d px' % spec.input_size, spec.precision) + row[7:10]
            + (spec.text_tower or '-', row[10])
            for spec, row in zip(BUILTIN_SPECS, _rows(list(BUILTIN_SPECS), sources),
                                 strict=True)]
    out = ['Models', '======', '',
           'Generated from ``EmbeddingSimilarity/models/catalog.py`` by '
           '``python tools/regenerate.py``; do not edit by hand.', '',
           'Tiles are cut at the input size, in pixels at the model\'s scale. Any other model '
           'runs through ``--custom-model`` as ``timm:hf_hub:ORG/NAME``, ``hf:ORG/NAME``, '
           '``local:/path`` or a plugin\'s name. "assumed" marks a fact no primary source '
           'states (the record says why; the "Assumed" column names those facts); when a hub '
           'model is cached, the mean/std its own config states are compared '
           'with the record and win (with a warning). Models that need code outside PyPI refuse '
           'to load, naming what to install, until it is there. "Text tower" says how a '
           'vision-language model\'s text tower loads for ``--text-queries`` (``external``: '
           'the authors\' code, not driven yet; an ``hf:`` CLIP model has one too).', '']
    out += _layout(header, rows, '=')
    out += ['', 'Pooling rules', '-------------', '']
    out += ['``%s``\n    %s' % (name, text) for name, text in POOLING_RULES.items()]
    out += ['', 'Sources of scale and normalisation', '----------------------------------', '']
    out += ['%s\n' % line for line in sources.lines()]
    out += ['References', '----------', '']
    for spec in BUILTIN_SPECS:
        text = '``%s``: %s' % (spec.name, spec.reference)
        text += '; licence and gate: %s' % spec.license_source.rstrip('.')
        text += '; repository: %s; code needed: %s; text tower: %s.' % (
            spec.repo_source, spec.code_source, spec.text_source)
        if spec.requires:
            text += ' Needs: %s.' % '; '.join('%s (%s)' % item for item in spec.requires.items())
        if spec.notes:
            text += ' %s' % spec.notes
        out.append('* ' + text)
    return '\n'.join(out) + '\n'
