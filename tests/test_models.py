"""The model registry: every architecture's size, offline loading through the real code paths,
plugins, and one clear line for every way a model can be missing."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import xml.etree.ElementTree as ET

import pytest
import torch
from conftest import REPO

from EmbeddingSimilarity.cli.main import XML_PATH
from EmbeddingSimilarity.models import BUILTIN_SPECS, get_spec, list_specs
from EmbeddingSimilarity.models.loaders import build_backbone, wrap_backbone
from EmbeddingSimilarity.models.spec import (
    FACT_SOURCES,
    ModelSpec,
    assumed_facts,
    is_assumed,
    is_source,
    unsourced_facts,
)
from EmbeddingSimilarity.models.table import models_rst

KEYPOINT = '1000,1500'
COMMIT = 'a' * 40
# models whose code is outside PyPI: listed, refusing to load until it is installed
EXTERNAL = [s for s in BUILTIN_SPECS if s.source == 'factory' and s.requires]
# models whose network exists only in their hub repository's Python code (e.g. KEEP)
REMOTE_ONLY = [s for s in BUILTIN_SPECS if s.needs_remote_code and not s.hf_config]
BUILDABLE = [s for s in BUILTIN_SPECS if s not in EXTERNAL and s not in REMOTE_ONLY]
IMAGE_ENCODERS = [s for s in BUILTIN_SPECS if s.name != 'Test']


@pytest.mark.parametrize('spec', BUILDABLE, ids=[s.name for s in BUILDABLE])
def test_every_architecture_pools_to_the_recorded_size(spec):
    """Built without weights on the meta device, so a ViT-g costs no memory."""
    with torch.device('meta'):
        embedder = wrap_backbone(spec, build_backbone(spec, pretrained=False))
        x = torch.empty(2, 3, spec.input_size, spec.input_size)
        with torch.inference_mode():
            out = embedder(x)
    assert tuple(out.shape) == (2, spec.embed_dim)


def test_catalog_has_the_pathology_models_with_facts():
    names = {spec.name for spec in BUILTIN_SPECS}
    for expected in ('UNI', 'UNI2-h', 'Prov-GigaPath', 'Virchow', 'Virchow2', 'H-optimus-0',
                     'H-optimus-1', 'H0-mini', 'Phikon', 'Phikon-v2', 'Hibou-B', 'Hibou-L',
                     'Midnight', 'kaiko-ViT-S16', 'kaiko-ViT-B16', 'Lunit-DINO-ViT-S16',
                     'DINOv2-L', 'efficientnet-lite0', 'Test', 'Virchow2-cls', 'kaiko-ViT-S8',
                     'kaiko-ViT-B8', 'kaiko-ViT-L14', 'Lunit-DINO-ViT-S8', 'Digepath', 'GPFM',
                     'OpenMidnight', 'ResNet50-trunc', 'PLIP', 'QuiltNet-B-32', 'CONCH',
                     'CONCH-v1.5', 'MUSK', 'CTransPath-CHIEF', 'KEEP', 'GenBio-PathFM',
                     'PathOrchestra', 'BiomedCLIP', 'MedSigLIP', 'QuiltNet-B-16',
                     'QuiltNet-B-16-PMB', 'OmiCLIP', 'Lunit-ResNet50-BT', 'Lunit-ResNet50-MoCoV2',
                     'Lunit-ResNet50-SwAV', 'mSTAR', 'RudolfV-2', 'RudolfV-2-B', 'RudolfV-2-S',
                     'CRISP', 'CROWN', 'Mascaret', 'Phaet', 'CTransPath', 'Path-Foundation',
                     'EXAONEPath', 'ConceptCLIP'):
        assert expected in names
    assert len(IMAGE_ENCODERS) >= 54 and len(names) == len(BUILTIN_SPECS)
    for spec in BUILTIN_SPECS:
        assert spec.reference and spec.license != 'unknown', spec.name
        assert spec.mpp and spec.precision in ('fp32', 'fp16', 'bf16')
        assert not spec.trust_remote_code, 'a shipped record must never trust remote code'
        assert len(spec.mean) == len(spec.std) == 3


@pytest.mark.parametrize('spec', BUILTIN_SPECS, ids=[s.name for s in BUILTIN_SPECS])
def test_every_fact_of_every_record_names_its_source(spec):
    """Repository, recipe, scale, normalisation, licence and gate, outside code, text tower: each
    names where it comes from in the record itself (a URL, a repository file, a paper), or says
    'assumed: <why>' / 'n/a: <why>' in so many words; nothing falls back on a default."""
    assert unsourced_facts(spec) == [], spec.name
    for field in FACT_SOURCES:
        text = getattr(spec, field)
        assert is_source(text), (spec.name, field)
        assert text.strip() != 'assumed', (spec.name, field)


def test_no_source_field_has_a_default():
    """A record that writes no source has every fact unsourced: the fields default to empty."""
    bare = ModelSpec(name='Bare', source='timm', embed_dim=8, repo_id='org/bare')
    for field in FACT_SOURCES:
        assert getattr(bare, field) == '', field
    assert unsourced_facts(bare) == [fact for facts in FACT_SOURCES.values() for fact in facts]


SOURCED = dict(reference='https://example.org/card', norm_source='https://example.org/card',
               scale_source='assumed: no source states the scale of these tiles',
               license_source='https://example.org/card', repo_source='https://example.org/card',
               code_source='n/a: needs only the dependencies of this package',
               text_source='n/a: an image encoder with no text tower')


@pytest.mark.parametrize('field', list(FACT_SOURCES))
def test_the_source_check_refuses_a_record_that_leaves_one_fact_unsourced(field):
    record = ModelSpec(name='Sourced', source='timm', embed_dim=8, license='MIT',
                       repo_id='org/sourced', **SOURCED)
    assert unsourced_facts(record) == []
    for bad in ('', '  ', 'assumed', 'assumed:', 'assumed: 20x', 'the card', 'n/a'):
        assert unsourced_facts(record.with_overrides(**{field: bad})) == list(
            FACT_SOURCES[field]), (field, bad)


def test_not_applicable_only_where_the_facts_are_absent():
    record = ModelSpec(name='Sourced', source='timm', embed_dim=8, license='MIT',
                       repo_id='org/sourced', **SOURCED)
    assert unsourced_facts(record.with_overrides(requires={'x': 'pip install x'})) == [
        'requires', 'needs_remote_code']
    assert unsourced_facts(record.with_overrides(needs_remote_code=True)) == [
        'requires', 'needs_remote_code']
    assert unsourced_facts(record.with_overrides(text_tower='open_clip')) == [
        'text_tower', 'prompt_templates']
    assert unsourced_facts(record.with_overrides(repo_source='n/a: no repository at all')) == [
        'repo_id', 'weights_file']
    assert unsourced_facts(record.with_overrides(norm_source='n/a: not applicable here')) == [
        'mean', 'std', 'input_size']
    assert is_assumed('assumed: no source states the scale')
    assert not is_assumed('assumed') and not is_assumed('https://assumed.org')


def test_assumed_facts_are_written_and_marked_in_the_docs_table():
    assumed = {s.name: assumed_facts(s) for s in BUILTIN_SPECS}
    assert assumed['PathOrchestra'] == ['scale'] and assumed['UNI'] == []
    assert 'recipe' in assumed['MedSigLIP'] and 'recipe' in assumed['QuiltNet-B-16-PMB']
    rows = {line.split()[0]: line for line in models_rst().splitlines()
            if line.split() and line.split()[0] in assumed}
    for name, facts in assumed.items():
        assert rows[name].rstrip().endswith(', '.join(facts) or '-'), name


def test_gates_follow_the_hub_pages():
    """H-optimus-0's later card versions carry extra_gated fields, as do OpenMidnight's;
    H-optimus-1, UNI, UNI2-h and Virchow2 ask for an agreement too; LazySlide registers
    Hibou-B and Midnight as gated."""
    gated = {s.name: s.gated for s in BUILTIN_SPECS}
    assert all(gated[name] for name in ('H-optimus-0', 'OpenMidnight', 'H-optimus-1', 'UNI',
                                        'UNI2-h', 'Virchow2', 'H0-mini', 'Hibou-B', 'Midnight'))


@pytest.mark.parametrize('spec', REMOTE_ONLY, ids=[s.name for s in REMOTE_ONLY])
def test_remote_code_only_models_refuse_without_consent(spec):
    from EmbeddingSimilarity.errors import ModelUnavailableError
    from EmbeddingSimilarity.models.loaders import build_embedder

    with pytest.raises(ModelUnavailableError, match='--trust-remote-code true'):
        build_embedder(spec)


@pytest.mark.parametrize('spec', EXTERNAL, ids=[s.name for s in EXTERNAL])
def test_models_needing_outside_code_refuse_with_what_to_install(spec):
    import importlib.util

    from EmbeddingSimilarity.errors import ModelUnavailableError
    from EmbeddingSimilarity.models.loaders import build_embedder

    missing = [m for m in spec.requires if importlib.util.find_spec(m) is None]
    assert missing, 'this check needs %s to be absent' % spec.name
    with pytest.raises(ModelUnavailableError) as caught:
        build_embedder(spec)
    message = str(caught.value)
    # one line for the person at the slide, one of detail for the administrator
    assert len(message.splitlines()) == 2 and spec.name in message.splitlines()[0]
    for module in missing:
        assert '%s (%s)' % (module, spec.requires[module]) in message


def test_external_model_refused_on_the_command_line(cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--model', 'CONCH', '--keypoints', KEYPOINT, '--output-dir',
                 str(tmp_path))
    assert result.returncode == 3
    assert 'pip install git+https://github.com/Mahmoodlab/CONCH.git' in _error_line(result)
    assert os.listdir(tmp_path) == []


def test_list_models_shows_every_fact(cli):
    result = cli('--list-models')
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    for column in ('name', 'loads', 'dim', 'pooling', 'scale', 'source', 'norm', 'gated',
                   'licence', 'needs'):
        assert column in header
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:] if line.strip()}
    assert '[' in rows['H-optimus-0'] and 'assumed' in rows['Virchow2']
    assert rows['Virchow2'].rstrip().endswith('scale') and rows['UNI'].rstrip().endswith('-')
    assert 'remote code' in rows['Hibou-B'] and 'conch' in rows['CONCH']
    assert 'https://huggingface.co/bioptimus/H-optimus-0' in result.stdout


def test_docs_table_is_generated_from_the_registry():
    with open(os.path.join(REPO, 'docs', 'models.rst')) as handle:
        assert handle.read() == models_rst(), 'regenerate: python tools/regenerate.py'


def test_xml_and_list_models_show_the_registry(cli):
    result = cli('--list-models')
    assert result.returncode == 0, result.stderr
    for spec in BUILTIN_SPECS:
        assert spec.name in result.stdout
    root = ET.parse(XML_PATH).getroot()
    model = next(p for p in root.iter('string-enumeration') if p.findtext('name') == 'model')
    assert [e.text for e in model.findall('element')] == [s.name for s in BUILTIN_SPECS]


def test_pooling_override_changes_the_size():
    spec = get_spec('Virchow2', pooling='cls')
    assert spec.pooling == 'cls' and spec.embed_dim == 1280
    spec = get_spec('UNI', pooling='cls+mean')
    assert spec.embed_dim == 2048


# --- offline loading through a Hugging Face cache folder ----------------------------------

def _snapshot(cache: str, repo_id: str) -> str:
    base = os.path.join(cache, 'models--' + repo_id.replace('/', '--'))
    snapshot = os.path.join(base, 'snapshots', COMMIT)
    os.makedirs(snapshot)
    os.makedirs(os.path.join(base, 'refs'))
    with open(os.path.join(base, 'refs', 'main'), 'w') as handle:
        handle.write(COMMIT)
    return snapshot


@pytest.fixture(scope='module')
def hub_cache(tmp_path_factory):
    """A Hugging Face cache holding a tiny timm ViT and a tiny transformers DINOv2."""
    import timm
    from transformers import Dinov2Config, Dinov2Model

    cache = str(tmp_path_factory.mktemp('hf-cache'))
    torch.manual_seed(0)
    vit = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0)
    timm.models.save_for_hf(vit, _snapshot(cache, 'testorg/tiny-vit'), safe_serialization=True)
    dino = Dinov2Model(Dinov2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=128, patch_size=14, image_size=224))
    dino.save_pretrained(_snapshot(cache, 'testorg/tiny-dinov2'))
    # config only, weights missing
    config_only = _snapshot(cache, 'testorg/no-weights')
    with open(os.path.join(config_only, 'config.json'), 'w') as handle:
        json.dump({'architecture': 'vit_tiny_patch16_224', 'num_features': 192,
                   'pretrained_cfg': {'input_size': [3, 224, 224]}}, handle)
    local = str(tmp_path_factory.mktemp('local-model') / 'vit')
    timm.models.save_for_hf(vit, local, safe_serialization=True)
    x = torch.rand(2, 3, 224, 224) * 2 - 1
    with torch.inference_mode():
        expected = {'vit': vit.eval()(x), 'dino': dino.eval()(pixel_values=x).last_hidden_state}
    return {'cache': cache, 'local': local, 'x': x, 'expected': expected}


def _offline_env(cache: str, **extra: str) -> dict[str, str]:
    return dict(HF_HUB_OFFLINE='1', HF_HUB_CACHE=cache, HF_HOME=os.path.dirname(cache), **extra)


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=REPO, env=full, timeout=300, check=False)


@pytest.mark.parametrize('name, key', [('timm:hf_hub:testorg/tiny-vit', 'vit'),
                                       ('hf:testorg/tiny-dinov2', 'dino'), ('local:', 'vit')])
def test_models_load_offline_through_the_real_code_paths(hub_cache, tmp_path, name, key):
    if name == 'local:':
        name = 'local:' + hub_cache['local']
    torch.save({'x': hub_cache['x'], 'expected': hub_cache['expected'][key]}, tmp_path / 'io.pt')
    result = _python('''
        import torch
        from EmbeddingSimilarity.models import get_spec
        from EmbeddingSimilarity.models.loaders import build_embedder
        io = torch.load(%r)
        spec = get_spec(%r)
        out = build_embedder(spec)(io['x'])
        expected = io['expected']
        if expected.ndim == 3:
            expected = expected[:, 0]  # transformers: CLS token
        assert out.shape == expected.shape, (out.shape, expected.shape)
        assert torch.allclose(out, expected, atol=1e-5), (out - expected).abs().max()
        print('ok', spec.embed_dim, spec.source)
    ''' % (str(tmp_path / 'io.pt'), name), _offline_env(hub_cache['cache']))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('ok')


def test_cli_runs_a_cached_hub_model_offline(hub_cache, cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--custom-model', 'timm:hf_hub:testorg/tiny-vit', '--keypoints',
                 KEYPOINT, '--output-dir', str(tmp_path), env=_offline_env(hub_cache['cache']))
    assert result.returncode == 0, result.stderr
    from EmbeddingSimilarity.cache import store

    data = store.load(str(tmp_path / 'cmu_small_region.timm_hf_hub_testorg_tiny-vit.npz'))
    assert data.embeddings.shape[-1] == 192
    assert data.meta['model']['repo_id'] == 'testorg/tiny-vit'


def test_download_model_checks_a_cached_model(hub_cache, cli):
    result = cli('--download-model', 'timm:hf_hub:testorg/tiny-vit',
                 env=_offline_env(hub_cache['cache']))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ('timm:hf_hub:testorg/tiny-vit is ready (testorg/tiny-vit '
                                     'at %s)' % COMMIT)
    missing = cli('--download-model', 'UNI', env=_offline_env(hub_cache['cache']))
    assert missing.returncode == 3 and 'MahmoodLab/UNI' in _error_line(missing)


# --- plugins -------------------------------------------------------------------------------

def test_plugin_models_register_through_an_entry_point(tmp_path, cli, sample_slide):
    site = tmp_path / 'site'
    (site / 'tissue_plugin-1.0.dist-info').mkdir(parents=True)
    (site / 'tissue_plugin-1.0.dist-info' / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: tissue-plugin\nVersion: 1.0\n')
    (site / 'tissue_plugin-1.0.dist-info' / 'entry_points.txt').write_text(
        '[embedding_similarity.models]\ntissue = tissue_plugin:specs\n')
    (site / 'tissue_plugin.py').write_text(textwrap.dedent('''
        import torch
        from EmbeddingSimilarity.models import ModelSpec

        class Brightness(torch.nn.Module):
            def forward(self, x):
                return torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))], dim=1)

        def build(pretrained=True):
            return Brightness()

        def specs():
            return [ModelSpec(name='PluginNet', source='factory',
                              repo_id='tissue_plugin:build', embed_dim=2, pooling='model',
                              num_prefix_tokens=0, license='MIT', reference='tests')]
    '''))
    env = {'PYTHONPATH': os.pathsep.join([str(site), REPO])}
    listed = cli('--list-models', env=env)
    assert listed.returncode == 0 and 'PluginNet' in listed.stdout
    result = cli(sample_slide, '--custom-model', 'PluginNet', '--keypoints', KEYPOINT,
                 '--output-dir', str(tmp_path / 'out'), env=env)
    assert result.returncode == 0, result.stderr
    from EmbeddingSimilarity.cache import store

    assert store.load(str(tmp_path / 'out' / 'cmu_small_region.PluginNet.npz')).embeddings.shape[
        -1] == 2


# --- missing and gated models: one clear line each ---------------------------------------

def _error_line(result: subprocess.CompletedProcess) -> str:
    """The error line, first what the person at the slide can do (choose another model or
    ask the administrator), then the administrator's detail on the next line."""
    lines = result.stderr.splitlines()
    at = [i for i, line in enumerate(lines) if 'error:' in line]
    assert len(at) == 1, result.stderr
    assert 'Traceback' not in result.stderr
    first, detail = lines[at[0]], lines[at[0] + 1]
    assert 'is not available on this server: choose another model' in first, first
    assert 'HF_' not in first and detail.startswith('  for the administrator: model '), detail
    return first + '\n' + detail


def test_uncached_catalog_model_offline_says_what_to_do(cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--model', 'UNI', '--keypoints', KEYPOINT, '--output-dir',
                 str(tmp_path), env=_offline_env(str(tmp_path / 'empty-cache')))
    assert result.returncode == 3
    line = _error_line(result)
    assert 'UNI' in line and 'MahmoodLab/UNI' in line
    assert 'HF_HUB_OFFLINE' in line and 'licence' in line and 'HF_TOKEN' in line
    assert not (tmp_path / 'cmu_small_region.UNI.npz').exists()


def test_cached_config_without_weights(hub_cache, cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--custom-model', 'timm:hf_hub:testorg/no-weights',
                 '--keypoints', KEYPOINT, '--output-dir', str(tmp_path),
                 env=_offline_env(hub_cache['cache']))
    assert result.returncode == 3
    line = _error_line(result)
    assert 'testorg/no-weights' in line and 'not available locally' in line


def test_missing_local_folder(cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--custom-model', 'local:/nonexistent/model', '--keypoints',
                 KEYPOINT, '--output-dir', str(tmp_path))
    assert result.returncode == 3
    assert 'config.json' in _error_line(result)


def test_remote_code_is_refused_unless_asked_for(cli, sample_slide, tmp_path):
    result = cli(sample_slide, '--model', 'Hibou-B', '--keypoints', KEYPOINT, '--output-dir',
                 str(tmp_path))
    assert result.returncode == 3
    line = _error_line(result)
    assert 'histai/hibou-b' in line and '--trust-remote-code true' in line


class _GatedHub(http.server.BaseHTTPRequestHandler):
    """Answers every request the way the hub answers for a gated repo without access."""

    def _refuse(self) -> None:
        repo = '/'.join(self.path.strip('/').split('/')[:2])
        message = ('Access to model %s is restricted. You must have access to it and be '
                   'authenticated to access it. Please log in.' % repo)
        self.send_response(401)
        self.send_header('X-Error-Code', 'GatedRepo')
        self.send_header('X-Error-Message', message)
        self.send_header('Content-Type', 'application/json')
        body = json.dumps({'error': message}).encode()
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    do_GET = do_HEAD = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gated_hub():
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _GatedHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d' % server.server_address[1]
    server.shutdown()


def test_gated_model_refused_by_the_hub(gated_hub, cli, sample_slide, tmp_path):
    env = dict(HF_HUB_OFFLINE='0', HF_ENDPOINT=gated_hub,
               HF_HUB_CACHE=str(tmp_path / 'cache'), HF_TOKEN='hf_' + 'z' * 30,
               HF_HUB_ETAG_TIMEOUT='5', HF_HUB_DOWNLOAD_TIMEOUT='5')
    result = cli(sample_slide, '--model', 'UNI2-h', '--keypoints', KEYPOINT, '--output-dir',
                 str(tmp_path), env=env)
    assert result.returncode == 3
    line = _error_line(result)
    assert 'UNI2-h' in line and 'MahmoodLab/UNI2-h' in line and 'gated' in line
    assert 'accept its licence' in line
    assert env['HF_TOKEN'] not in result.stdout + result.stderr


def test_unknown_model_names_the_choices():
    from EmbeddingSimilarity.errors import InputError

    with pytest.raises(InputError, match='UNI2-h'):
        get_spec('UNI3')
    assert [s.name for s in list_specs(include_plugins=False)] == [s.name for s in BUILTIN_SPECS]
