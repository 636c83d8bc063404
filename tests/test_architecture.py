"""The shape of the package: subpackages by concern imported in one direction only, no import
cycles, the request's records reaching only the rooms that own them, modules and functions of a
readable size, each module saying what it owns, and one source of truth for parameter defaults."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re

import pytest
from conftest import REPO

PACKAGE = os.path.join(REPO, 'EmbeddingSimilarity')
MAX_MODULE_LINES = 330
DATA_MODULES = ('EmbeddingSimilarity.models.catalog',)
"""Records, not code: one per model, each a dozen sourced facts."""
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, str]:
    """Dotted module name -> path, for every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            found['.'.join(parts)] = path
    return found


def _imports(module: str, path: str, known: set[str]) -> set[str]:
    """The package modules ``module`` imports anywhere (function-level imports included)."""
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    out = set()
    with open(path) as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')
                anchor = anchor[:len(anchor) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the module pkg.sub; ``from pkg import name``, pkg
            candidates = ['%s.%s' % (base, alias.name) if '%s.%s' % (base, alias.name) in known
                          else base for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        out.update(name for name in candidates if name in known and name != module)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_there_is_no_import_cycle():
    cycle = find_cycle(_graph())
    assert cycle is None, 'import cycle: %s' % ' -> '.join(cycle)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set(), 'c': {'a', 'b'}}) is None
    # the package's old cycle: distributed imported pipeline, which imports distributed
    assert find_cycle({'p': {'d'}, 'd': {'p'}}) == ['d', 'p', 'd']


LAYERS = ('foundation', 'slide', 'models', 'engine', 'girder', 'cache', 'query', 'render', 'steps',
          'collection', 'cli')
"""The rooms, low to high: a room imports only rooms before it (and itself)."""
INNER_ROOMS = ('slide', 'models', 'engine', 'girder', 'cache', 'query', 'render')
"""Rooms that take their own option record or plain values, never the whole request."""


ENTRY_POINTS = ('EmbeddingSimilarity.__main__', 'EmbeddingSimilarity.EmbeddingSimilarity')
COMPOSER = 'EmbeddingSimilarity.steps.request'
"""The request is made of every room's record, the collection's too."""


def _room(module: str) -> str:
    if module in ENTRY_POINTS:
        return 'cli'
    parts = module.split('.')
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else 'foundation'


def test_every_subpackage_says_what_it_owns_and_may_import():
    for room in LAYERS[1:]:
        path = os.path.join(PACKAGE, room, '__init__.py')
        with open(path) as handle:
            doc = ast.get_docstring(ast.parse(handle.read()))
        assert doc and 'May import' in doc and len(doc.splitlines()) <= 3, room


def stated_imports(doc: str, room: str) -> set[str]:
    """The rooms a subpackage's "May import:" line allows ("every room below it" and
    "everything" name every lower room)."""
    line = re.sub(r'\([^)]*\)', '', doc[doc.index('May import'):]).split(';')[0]
    below = set(LAYERS[:LAYERS.index(room)])
    if 'every room below' in line or 'everything' in line:
        return below
    return {name for name in LAYERS if re.search(r'\b%s\b' % name, line)} & below


def test_each_subpackage_imports_only_what_its_docstring_says():
    """The "May import" line is true: a reader can trust it instead of grepping."""
    actual: dict[str, set[str]] = {room: set() for room in LAYERS}
    for module, imported in _graph().items():
        for other in imported:
            if module == COMPOSER and other.endswith('.options'):
                continue
            if _room(other) != _room(module):
                actual[_room(module)].add(_room(other))
    for room in LAYERS[1:]:
        with open(os.path.join(PACKAGE, room, '__init__.py')) as handle:
            doc = ast.get_docstring(ast.parse(handle.read()))
        assert actual[room] <= stated_imports(doc, room), (room, actual[room])


def test_the_stated_imports_are_read_as_written():
    assert stated_imports('May import: slide, models (text), cache and the foundation modules; '
                          'no Girder', 'query') == {'foundation', 'slide', 'models', 'cache'}
    assert stated_imports('May import: the foundation modules only.', 'girder') == {'foundation'}
    assert 'render' in stated_imports('May import: every room below it (slide, ...)', 'steps')


def test_the_model_records_import_no_torch():
    """Listing and resolving models (what a cached click needs) loads no deep-learning library."""
    import subprocess
    import sys

    code = ('import sys; import EmbeddingSimilarity.models as m, EmbeddingSimilarity.models.table'
            ' as t; m.get_spec("UNI2-h"); t.models_table(); '
            'print(sorted(k for k in ("torch", "timm", "transformers") if k in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                         check=True, env={**os.environ, 'PYTHONPATH': REPO})
    assert out.stdout.strip() == '[]'


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a room above the importer's (``a -> b``)."""
    wrong = []
    for module, imported in sorted(graph.items()):
        for other in sorted(imported):
            if module == COMPOSER and other.endswith('.options'):
                continue
            if LAYERS.index(_room(other)) > LAYERS.index(_room(module)):
                wrong.append('%s -> %s' % (module, other))
    return wrong


def test_rooms_import_only_rooms_below_them():
    wrong = layer_violations(_graph())
    assert not wrong, 'imports against the layers %s: %s' % (' < '.join(LAYERS), wrong)


def test_the_layer_check_finds_an_upward_import():
    graph = {'EmbeddingSimilarity.query.cells': {'EmbeddingSimilarity.render.annotation',
                                                 'EmbeddingSimilarity.girder.session',
                                                 'EmbeddingSimilarity.errors'},
             'EmbeddingSimilarity.girder.session': {'EmbeddingSimilarity.cache.store'}}
    assert layer_violations(graph) == [
        'EmbeddingSimilarity.girder.session -> EmbeddingSimilarity.cache.store',
        'EmbeddingSimilarity.query.cells -> EmbeddingSimilarity.render.annotation']


def test_inner_rooms_never_take_the_request():
    """The request is the flows' business; rooms below the steps get their own record."""
    for module, path in _modules().items():
        if _room(module) not in INNER_ROOMS:
            continue
        with open(path) as handle:
            source = handle.read()
        assert 'steps.request' not in source and not re.search(r'\brequest: Request\b', source), \
            module


def test_new_clis_can_plan_and_query_without_the_pipeline():
    graph = _graph()

    def reach(start: str) -> set[str]:
        todo, seen = [start], set()
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
    for room in ('steps.plan', 'cache.local', 'query.cells', 'cli.request', 'cache.store',
                 'girder.session'):
        assert 'EmbeddingSimilarity.steps.embed' not in reach('EmbeddingSimilarity.' + room), room


@pytest.mark.parametrize('module', sorted(_modules()))
def test_each_module_is_readable(module):
    path = _modules()[module]
    with open(path) as handle:
        source = handle.read()
    tree = ast.parse(source)
    assert ast.get_docstring(tree), '%s has no opening docstring saying what it owns' % module
    if module not in DATA_MODULES:
        assert len(source.splitlines()) <= MAX_MODULE_LINES, '%s is too long' % module
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, '%s.%s has %d lines' % (module, node.name,
                                                                        length)


@pytest.mark.parametrize('cli', ['EmbeddingSimilarity', 'EmbeddingClusters',
                                 'CollectionSimilarity'])
def test_xml_defaults_are_the_records_defaults(sample_slide, cli):
    """Parsing no optional argument gives exactly each record's defaults, record by record and
    field by field (the annotation name is each CLI's own)."""
    from EmbeddingSimilarity.cli.arguments import flow
    from EmbeddingSimilarity.cli.main import build_parser, to_request
    from EmbeddingSimilarity.steps.request import RECORDS

    from_xml = to_request(build_parser(cli).parse_args([sample_slide]), cli)
    for attribute, record in RECORDS.items():
        defaults = record()
        if attribute == 'render':
            defaults.annotation_name = flow(cli).ANNOTATION_NAME
        for field in dataclasses.fields(record):
            assert getattr(getattr(from_xml, attribute), field.name) == \
                getattr(defaults, field.name), '%s.%s' % (attribute, field.name)


def test_every_request_field_belongs_to_exactly_one_record():
    from EmbeddingSimilarity.steps.request import FIELD_RECORD, RECORDS, Request

    names = [f.name for record in RECORDS.values() for f in dataclasses.fields(record)]
    assert len(names) == len(set(names)) == len(FIELD_RECORD)
    request = Request.of('x', keypoints=[(1.0, 2.0)], batch_size=8, api_url='http://h/api/v1')
    assert request.query.keypoints == [(1.0, 2.0)] and request.engine.batch_size == 8
    assert request.but(batch_size=4).engine.batch_size == 4 and request.engine.batch_size == 8
    assert request.flat()['api_url'] == 'http://h/api/v1'
    with pytest.raises(TypeError):
        request.but(no_such_field=1)


def test_library_defaults_agree_with_the_xml():
    from EmbeddingSimilarity.cli.main import build_parser
    from EmbeddingSimilarity.engine.embedding import EmbeddingEngine
    from EmbeddingSimilarity.query.similarity import compute

    args = build_parser().parse_args(['x'])
    assert inspect.signature(compute).parameters['scaling'].default == args.scaling
    assert inspect.signature(compute).parameters['aggregation'].default == args.aggregation
    assert inspect.signature(EmbeddingEngine).parameters['batch_size'].default == args.batchSize
