"""No run writes over a file it reads: every output parameter of every CLI's XML (read here from
the XML itself, so a parameter added later is covered), plus ``--returnparameterfile`` and
``--index``, pointed at an input directly, through a symlink and through ``..``, is refused
before any work with exit 2, and the input keeps its bytes."""

from __future__ import annotations

import hashlib
import os
import shutil
from xml.etree import ElementTree

import pytest
from conftest import REPO

from EmbeddingSimilarity.cli.main import main

CLIS = ('EmbeddingSimilarity', 'EmbeddingClusters', 'CollectionSimilarity')


def _xml_outputs(cli: str) -> list[str]:
    """The option of every path-valued output parameter of ``cli``'s XML, and Slicer's
    ``--returnparameterfile`` when the XML has simple (value) outputs."""
    root = ElementTree.parse(os.path.join(REPO, 'EmbeddingSimilarity', cli + '.xml')).getroot()
    outputs = [element for element in root.iter() if element.findtext('name')
               and (element.findtext('channel') or '').strip() == 'output']
    files = ['--' + e.findtext('longflag') for e in outputs
             if e.tag in ('file', 'image', 'directory')]
    values = [e for e in outputs if e.tag not in ('file', 'image', 'directory')]
    return files + (['--returnparameterfile'] if values else [])


OUTPUTS = [(cli, option) for cli in CLIS
           for option in _xml_outputs(cli) + (['--index'] if cli == 'CollectionSimilarity'
                                              else [])]


def _sha(path: str) -> str:
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def world(tmp_path, sample_slide):
    """A query slide, a collection holding another slide and a cache, and an output folder."""
    slide = tmp_path / 'query.svs'
    shutil.copy(sample_slide, slide)
    collection = tmp_path / 'archive'
    (collection / 'sub').mkdir(parents=True)
    shutil.copy(sample_slide, collection / 'sub' / 'other.svs')
    (collection / 'sub' / 'other.Test.npz').write_bytes(b'a cache')
    (tmp_path / 'out').mkdir()
    return tmp_path


def _args(cli: str, world, option: str, target: str) -> list[str]:
    args = [str(world / 'query.svs'), '--model', 'Test', '--output-dir', str(world / 'out'),
            option, target]
    if cli != 'EmbeddingClusters':
        args += ['--keypoints', '1000,1500']
    if cli == 'CollectionSimilarity':
        args += ['--collection', str(world / 'archive')]
    return args


def _targets(world, cli: str) -> dict[str, str]:
    """The inputs an output must never replace, each spelled three ways."""
    link = world / 'out' / 'link.svs'
    if not link.exists():
        link.symlink_to(world / 'query.svs')
    found = {'the image': str(world / 'query.svs'), 'a symlink to the image': str(link),
             'the image through ..': str(world / 'out' / '..' / 'query.svs')}
    if cli == 'CollectionSimilarity':
        found['a slide of the collection'] = str(world / 'archive' / 'sub' / 'other.svs')
        found['a cache in the collection'] = str(world / 'archive' / 'sub' / 'other.Test.npz')
    return found


@pytest.mark.parametrize('cli, option', OUTPUTS, ids=['%s %s' % o for o in OUTPUTS])
def test_no_output_replaces_an_input(cli, option, world, capsys):
    for what, target in _targets(world, cli).items():
        before = {p: _sha(p) for p in (world / 'query.svs', world / 'archive' / 'sub' /
                                       'other.svs', world / 'archive' / 'sub' / 'other.Test.npz')}
        code = main(_args(cli, world, option, target), cli)
        err = capsys.readouterr().err
        assert code == 2, (what, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and 'error:' in lines[0] and 'input' in lines[0], (what, lines)
        assert {p: _sha(p) for p in before} == before, what
        assert not os.path.exists(target + '.json') or target.endswith('.json'), what


def test_two_outputs_on_one_file_are_refused(world, capsys):
    """Slicer's return parameters and the annotation on one file would lose one of them."""
    same = str(world / 'out' / 'x.anot')
    code = main(_args('EmbeddingSimilarity', world, '--returnparameterfile', same)
                + ['--output-annotation', same], 'EmbeddingSimilarity')
    err = capsys.readouterr().err
    assert code == 2 and 'same file' in err, err
    assert not os.path.exists(same)


def test_the_return_parameter_file_is_checked_before_any_work(world, capsys):
    code = main(_args('EmbeddingSimilarity', world, '--returnparameterfile',
                      str(world / 'missing' / 'r.txt')), 'EmbeddingSimilarity')
    err = capsys.readouterr().err
    assert code == 6 and 'does not exist' in err, err
    assert os.listdir(world / 'out') == ['link.svs'] or os.listdir(world / 'out') == []


def test_the_index_never_replaces_the_query_slide(world, capsys):
    slide = world / 'query.svs'
    before = _sha(slide)
    code = main(_args('CollectionSimilarity', world, '--index', str(slide)),
                'CollectionSimilarity')
    assert code == 2, capsys.readouterr().err
    assert _sha(slide) == before and not os.path.exists(str(slide) + '.json')


def test_the_guard_covers_every_output_the_xml_declares():
    """The guard reads the same XML: each output option above is one it knows."""
    from EmbeddingSimilarity.cli.arguments import xml_path
    from EmbeddingSimilarity.cli.guard import parameters

    for cli in CLIS:
        known = {option for _, option, channel in parameters(xml_path(cli))
                 if channel == 'output'}
        assert known == set(_xml_outputs(cli)) - {'--returnparameterfile'}, cli


def _guard(cli: str, argv: list[str]) -> str | None:
    """The guard's one line for ``argv`` (None when it lets the run go on)."""
    from EmbeddingSimilarity.cli.arguments import build_parser, join_negative_values, xml_path
    from EmbeddingSimilarity.cli.guard import guard_outputs
    from EmbeddingSimilarity.errors import UserError

    parser = build_parser(cli)
    try:
        guard_outputs(parser.parse_args(join_negative_values(parser, argv)), xml_path(cli))
    except UserError as exc:
        return str(exc)
    return None


@pytest.fixture(scope='module')
def fuzz_world(tmp_path_factory, sample_slide):
    world = tmp_path_factory.mktemp('fuzz')
    shutil.copy(sample_slide, world / 'query.svs')
    (world / 'archive' / 'sub').mkdir(parents=True)
    shutil.copy(sample_slide, world / 'archive' / 'sub' / 'other.svs')
    (world / 'archive' / 'sub' / 'other.Test.npz').write_bytes(b'a cache')
    (world / 'in.npz').write_bytes(b'embeddings')
    (world / 'out').mkdir()
    (world / 'out' / 'link.svs').symlink_to(world / 'query.svs')
    return world


@pytest.mark.parametrize('cli', CLIS)
def test_fuzzed_outputs_are_refused_exactly_when_they_hit_an_input_or_each_other(cli,
                                                                                  fuzz_world):
    """Every output option of the XML gets a random target: a fresh file, an input spelled
    directly, through a symlink or through ``..``, or the target of another output. The guard
    refuses exactly the runs where one output would replace an input or another output."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    world = fuzz_world
    inputs = {'image': world / 'query.svs', 'link': world / 'out' / 'link.svs',
              'dotdot': world / 'out' / '..' / 'query.svs', 'embeddings': world / 'in.npz'}
    if cli == 'CollectionSimilarity':  # its inputs: the folder's slides and caches
        del inputs['embeddings']
        inputs['slide'] = world / 'archive' / 'sub' / 'other.svs'
        inputs['cache'] = world / 'archive' / 'sub' / 'other.Test.npz'
    options = _xml_outputs(cli) + (['--index'] if cli == 'CollectionSimilarity' else [])
    fresh = ['out/a.npz', 'out/b.anot', 'out/c.png', 'out/d.csv', 'out/e.txt', 'out/f.idx']
    choice = st.sampled_from(['fresh:%s' % name for name in fresh] + sorted(inputs))

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(choice, min_size=len(options), max_size=len(options)))
    def check(picks):
        argv = [str(inputs['image']), '--model', 'Test']
        if 'embeddings' in inputs:
            argv += ['--input-embeddings', str(inputs['embeddings'])]
        if cli != 'EmbeddingClusters':
            argv += ['--keypoints', '1000,1500']
        if cli == 'CollectionSimilarity':
            argv += ['--collection', str(world / 'archive')]
        targets = []
        for option, pick in zip(options, picks, strict=True):
            path = (str(world / pick.split(':', 1)[1]) if pick.startswith('fresh:')
                    else str(inputs[pick]))
            argv += [option, path]
            targets.append(pick)
        hits_input = any(not pick.startswith('fresh:') for pick in targets)
        fresh_picks = [pick for pick in targets if pick.startswith('fresh:')]
        clash = len(set(fresh_picks)) < len(fresh_picks)
        if cli == 'CollectionSimilarity' and '--index' in options:
            index = argv[argv.index('--index') + 1]  # the index writes INDEX.json beside it
            clash = clash or any(argv[i + 1] == index + '.json' for i, a in enumerate(argv)
                                 if a.startswith('--output'))
        line = _guard(cli, argv)
        if hits_input or clash:
            assert line is not None, (picks, argv)
            assert '\n' not in line
        else:
            assert line is None, (picks, line)
    check()
