"""Human-readable listings of the registry: a terminal table and the docs' RST table."""

from __future__ import annotations

from .registry import list_specs
from .spec import ModelSpec

COLUMNS = ('name', 'source', 'dim', 'scale', 'pooling', 'gated', 'licence')


def _row(spec: ModelSpec) -> tuple[str, ...]:
    source = spec.source if not spec.repo_id or spec.source == 'factory' else '%s %s' % (
        spec.source, spec.repo_id)
    return (spec.name, source, str(spec.embed_dim), spec.scale_text, spec.pooling,
            'yes' if spec.gated else 'no', spec.license)


def models_table() -> str:
    """A plain-text table of every known model."""
    rows = [COLUMNS] + [_row(spec) for spec in list_specs()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, '  '.join('-' * width for width in widths))
    return '\n'.join(lines)


def models_rst() -> str:
    """``docs/models.rst``: the catalog as a reStructuredText table, with sources."""
    from .catalog import BUILTIN_SPECS
    from .spec import POOLING_RULES

    header = ('Model', 'Loads from', 'Dim', 'Scale', 'Input', 'Pooling', 'Precision', 'Gated',
              'Licence')
    rows = []
    for spec in BUILTIN_SPECS:
        where = spec.repo_id if spec.source != 'factory' else 'bundled'
        if spec.needs_remote_code:
            where += ' (remote code)'
        rows.append((spec.name, '%s: %s' % (spec.source, where), str(spec.embed_dim),
                     spec.scale_text, '%d px' % spec.input_size, spec.pooling, spec.precision,
                     'yes' if spec.gated else 'no', spec.license))
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    rule = '  '.join('=' * w for w in widths)

    def line(cells: tuple[str, ...]) -> str:
        return '  '.join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = ['Models', '======', '',
           'Generated from ``EmbeddingSimilarity/models/catalog.py`` by '
           '``python tools/make_models_rst.py``; do not edit by hand.', '',
           'Tiles are cut at the input size, in pixels at the model\'s scale. Any other model '
           'runs through ``--custom-model`` as ``timm:hf_hub:ORG/NAME``, ``hf:ORG/NAME``, '
           '``local:/path`` or a plugin\'s name.', '', rule, line(header), rule]
    out += [line(row) for row in rows]
    out += [rule, '', 'Pooling rules', '-------------', '']
    out += ['``%s``\n    %s' % (name, text) for name, text in POOLING_RULES.items()]
    out += ['', 'Sources', '-------', '']
    for spec in BUILTIN_SPECS:
        text = '``%s``: %s' % (spec.name, spec.reference)
        if spec.notes:
            text += ' %s' % spec.notes
        out.append('* ' + text)
    return '\n'.join(out) + '\n'
