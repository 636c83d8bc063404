"""The tree holds only what someone wrote on purpose, and what it tells a reader is checkable:
no tracked environment or test artefact, and every ``tox -e NAME`` it names exists."""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
import subprocess

from conftest import REPO

ARTEFACTS = (
    '.venv*', 'venv', 'env', '.tox', 'node_modules', '__pycache__', '*.pyc', '*.egg-info',
    '.pytest_cache', '.ruff_cache', '.mypy_cache', '.hypothesis', '.coverage', 'htmlcov',
    'sample-output', 'build', 'dist', '*.partial', '*.npz', '*.npz.tmp', '*.faiss', '*.h5',
    '*.zarr', '.screenshots', 'screenshots', 'results', 'control', '*.exchange', '*.msg',
)
"""Names (of a file or of any folder above it) that an environment, a test run or a tool makes:
virtualenvs as folder, file or link, tox, caches, outputs, screenshots, kombu's folder broker."""

BINARY_ALLOWED = ('docs/*.png', 'tests/data/cmu_small_region.svs')
"""The binary files written on purpose: the pictures the docs show, and the CC0 sample slide."""


def tracked_files() -> list[str]:
    out = subprocess.run(['git', 'ls-files', '-z'], cwd=REPO, capture_output=True, check=True)
    return [name for name in out.stdout.decode().split('\0') if name]


def artefacts(paths: list[str]) -> list[str]:
    """The paths among ``paths`` that look like an environment or a test artefact."""
    found = []
    for path in paths:
        parts = path.split('/')
        if any(fnmatch.fnmatch(part, pattern) for part in parts for pattern in ARTEFACTS):
            found.append(path)
    return found


def _is_binary(path: str) -> bool:
    with open(os.path.join(REPO, path), 'rb') as handle:
        return b'\0' in handle.read(8192)


def test_no_environment_or_test_artefact_is_tracked():
    assert artefacts(tracked_files()) == []


def test_the_artefact_check_finds_what_it_is_for():
    planted = ['.venv', '.venv-ui/bin/python', 'venv/pyvenv.cfg', '.tox/py311/log',
               'tests/ui/node_modules', 'tests/ui/control/q1.exchange', 'docs/screenshots/a.png',
               'EmbeddingSimilarity/__pycache__/x.cpython-311.pyc', 'sample-output/a.npz',
               'tests/data/cmu_small_region.Test.npz', 'x.npz.partial', '.hypothesis/examples/1']
    assert artefacts(planted) == planted
    assert artefacts(['README.rst', 'tests/ui/package.json', 'docs/cluster_map.png',
                      'EmbeddingSimilarity/cache/store.py', 'tests/data/golden/clusters.csv']) == []


def test_every_tracked_binary_was_written_on_purpose():
    binary = [path for path in tracked_files()
              if os.path.isfile(os.path.join(REPO, path)) and _is_binary(path)]
    stray = [path for path in binary
             if not any(fnmatch.fnmatch(path, pattern) for pattern in BINARY_ALLOWED)]
    assert stray == []
    assert 'tests/data/cmu_small_region.svs' in binary


def tox_envs() -> set[str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(REPO, 'tox.ini'))
    named = {env.strip() for env in config['tox']['envlist'].split(',')}
    return named | {section.split(':', 1)[1] for section in config.sections()
                    if section.startswith('testenv:')}


def test_every_tox_env_the_repository_names_exists():
    envs = tox_envs()
    named = {}
    for path in tracked_files():
        if not path.endswith(('.py', '.rst', '.sh', '.ini', '.txt', '.js', '.md', '')) or \
                not os.path.isfile(os.path.join(REPO, path)) or _is_binary(path):
            continue
        with open(os.path.join(REPO, path), encoding='utf-8') as handle:
            for env in re.findall(r'tox -e ([\w,.-]+)', handle.read()):
                named.setdefault(env, path)
    assert named, 'the README names at least one tox environment'
    missing = {env: path for env, path in named.items()
               if not set(env.split(',')) <= envs and env != 'NAME'}
    assert missing == {}


DOCS = ('README.rst', *sorted('docs/' + name for name in os.listdir(os.path.join(REPO, 'docs'))
                              if name.endswith('.rst')))


def _rst_problems(path: str, root: str = REPO) -> list[str]:
    """docutils' warnings and errors for ``path``, and the relative links and pictures in it
    that point at no file."""
    import io

    from docutils import nodes
    from docutils.core import publish_doctree

    with open(os.path.join(root, path), encoding='utf-8') as handle:
        text = handle.read()
    messages = io.StringIO()
    tree = publish_doctree(text, source_path=path, settings_overrides={
        'report_level': 2, 'warning_stream': messages, 'halt_level': 5,
        'file_insertion_enabled': False, 'raw_enabled': False})
    problems = re.findall(r'^.*\((?:WARNING|ERROR|SEVERE)/\d\).*$', messages.getvalue(), re.M)
    folder = os.path.dirname(os.path.join(root, path))
    for node in tree.findall(nodes.Element):
        target = node.get('refuri') or (node.get('uri') if node.tagname == 'image' else None)
        if not target or re.match(r'[a-z]+:', target) or target.startswith('#'):
            continue
        missing = '%s: %s points at no file' % (path, target)
        if not os.path.exists(os.path.join(folder, target.split('#')[0])) and \
                missing not in problems:
            problems.append(missing)
    return problems


def test_every_document_renders_and_links_to_files_that_exist():
    assert {path: _rst_problems(path) for path in DOCS} == {path: [] for path in DOCS}


def test_the_document_check_sees_a_dead_link_and_a_broken_title(tmp_path):
    (tmp_path / 'here.rst').write_text('x\n')
    (tmp_path / 'page.rst').write_text('Title\n=====\n\nSee `missing <nowhere.rst>`_, '
                                      '`there <here.rst>`_ and\n\n.. image:: gone.png\n')
    assert len(_rst_problems('page.rst', str(tmp_path))) == 2
    (tmp_path / 'title.rst').write_text('A long title\n=====\n\ntext\n')
    assert len(_rst_problems('title.rst', str(tmp_path))) == 1
