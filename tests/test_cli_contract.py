"""The Slicer CLI contract that Slicer CLI Web and HistomicsUI rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import REPO

from EmbeddingSimilarity.cli.arguments import xml_path
from EmbeddingSimilarity.cli.main import XML_PATH
from EmbeddingSimilarity.models import list_specs

ENTRYPOINTS = {
    'slicer_cli_web': [sys.executable, '-m', 'slicer_cli_web.cli_list_entrypoint'],
    'docker-entrypoint.sh': [os.path.join(REPO, 'docker-entrypoint.sh')],
}


def _run(command: list[str], *args: str, cwd: str = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(command + list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(params=sorted(ENTRYPOINTS))
def entrypoint(request) -> list[str]:
    return ENTRYPOINTS[request.param]


def test_list_cli_prints_the_cli_list(entrypoint, tmp_path):
    # the docker entry point must work from any folder (docker run sets no particular cwd)
    cwd = str(tmp_path) if entrypoint[0].endswith('.sh') else REPO
    result = _run(entrypoint, '--list_cli', cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {'EmbeddingSimilarity': {'type': 'python'},
                                         'EmbeddingClusters': {'type': 'python'},
                                         'CollectionSimilarity': {'type': 'python'}}
    with open(os.path.join(REPO, 'cli_list.json')) as handle:
        assert json.load(handle) == json.loads(result.stdout)


CLIS = {'EmbeddingSimilarity': ('Embedding Similarity', '--keypoints', '--output-embeddings'),
        'EmbeddingClusters': ('Embedding Clusters', '--clusters', '--output-embeddings'),
        'CollectionSimilarity': ('Collection Similarity', '--collection', '--top-k',
                                 '--output-results', '--output-gallery', '--index',
                                 '--embeddings-folder', '--scheduler')}


@pytest.mark.parametrize('cli', sorted(CLIS))
def test_xml_is_printed_and_valid(entrypoint, cli):
    result = _run(entrypoint, cli, '--xml')
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout)
    assert root.tag == 'executable'
    assert root.findtext('category') == 'HistomicsTK'
    assert root.findtext('title') == CLIS[cli][0]
    with open(xml_path(cli)) as handle:
        assert ET.fromstring(handle.read()).findtext('title') == root.findtext('title')


@pytest.mark.parametrize('cli', sorted(CLIS))
def test_help_lists_the_parameters(entrypoint, cli):
    result = _run(entrypoint, cli, '--help')
    assert result.returncode == 0, result.stderr
    for flag in (*CLIS[cli][1:], '--model', '--girder-token', '--stride'):
        assert flag in result.stdout


def _parameters(path: str = XML_PATH) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {param.findtext('name'): param for group in root.findall('parameters')
            for param in group if param.find('name') is not None}


def test_xml_exposes_the_parameters_dsa_needs():
    params = _parameters()
    image = params['inputImageFile']
    assert image.tag == 'image' and image.findtext('index') == '0'
    assert params['inputImageId'].get('reference') == '_girder_id_'
    keypoints = params['keypoints']
    assert keypoints.tag == 'region' and 'point' in keypoints.get('shapes').split(',')
    assert keypoints.findtext('default') == '-1,-1'
    embeddings_in = params['inputEmbeddingFile']
    assert embeddings_in.tag == 'file' and embeddings_in.get('fileExtensions') == '.npz,.h5'
    embeddings_out = params['outputEmbeddingFile']
    assert embeddings_out.findtext('channel') == 'output'
    assert embeddings_out.get('fileExtensions') == '.npz,.h5'  # .npz: the default name
    annotation = [p for name, p in params.items() if name.endswith('AnnotationFile')]
    assert len(annotation) == 1, 'HistomicsUI ingests outputs whose name ends in AnnotationFile'
    assert annotation[0].get('fileExtensions') == '.anot'
    assert annotation[0].get('reference') == 'inputImageFile'
    assert annotation[0].findtext('channel') == 'output'
    assert params['outputOverlayFile'].get('fileExtensions') == '.png'
    for name in ('aggregation', 'similarityThreshold', 'heatmapColor', 'model', 'tileSize',
                 'stride', 'mpp', 'magnification', 'batchSize', 'annotationId', 'girderApiUrl',
                 'girderToken'):
        assert name in params, name
    root = ET.parse(XML_PATH).getroot()
    advanced = [p.findtext('name') for group in root.findall('parameters')
                if group.get('advanced') == 'true' for p in group]
    assert {'girderApiUrl', 'girderToken'} <= set(advanced)


@pytest.mark.parametrize('cli', sorted(CLIS))
def test_xml_model_enumeration_is_the_registry(cli):
    """Every CLI offers the catalog's models (regenerate with python tools/regenerate.py)."""
    model = _parameters(xml_path(cli))['model']
    choices = [e.text for e in model.findall('element')]
    assert choices == [spec.name for spec in list_specs(include_plugins=False)]
    assert model.findtext('default') in choices


def test_xml_parses_with_slicer_cli_web():
    from slicer_cli_web.ctk_cli_adjustment import CLIModule

    module = CLIModule(XML_PATH)
    index_params, optional, _ = module.classifyParameters()
    assert [p.name for p in index_params] == ['inputImageFile']
    names = {p.name for p in optional}
    assert {'keypoints', 'outputAnnotationFile', 'outputEmbeddingFile'} <= names


def test_every_cli_has_a_console_script_and_a_script_folder():
    import re

    with open(os.path.join(REPO, 'cli_list.json')) as handle:
        clis = json.load(handle)
    with open(os.path.join(REPO, 'setup.py')) as handle:
        setup = handle.read()
    with open(os.path.join(REPO, 'Dockerfile')) as handle:
        dockerfile = handle.read()
    for cli in clis:
        assert os.path.isfile(os.path.join(REPO, cli, cli + '.py')), cli
        assert re.search(r"'%s = EmbeddingSimilarity.cli.main:\w+'" % cli, setup), cli
        assert '%s --xml' % cli in dockerfile, cli
