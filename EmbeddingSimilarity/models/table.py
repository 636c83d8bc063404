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
