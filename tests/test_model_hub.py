"""The Hugging Face hub seen from the registry: cached snapshots whatever the case of the id,
the cached config checked against each record, and one bounded line when the hub is offline or
cannot be reached (rows of docs/errors.rst, checked like tests/test_bad_inputs.py)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from EmbeddingSimilarity.models import BUILTIN_SPECS, get_spec, hub

KEYPOINT = '1000,1500'
COMMIT = 'b' * 40
# the public timm config of a mirror of H-optimus-0 (huggingface.co/1aurent/
# vit_giant_patch14_reg4_224.h-optimus-v0, config.json): the model's own statement of its inputs
HOPTIMUS_MIRROR_CFG = {
    'architecture': 'vit_giant_patch14_reg4_dinov2', 'num_classes': 0, 'num_features': 1536,
    'global_pool': 'token',
    'pretrained_cfg': {'input_size': [3, 224, 224], 'fixed_input_size': True,
                       'interpolation': 'bicubic', 'crop_pct': 1.0,
                       'mean': [0.707223, 0.578729, 0.703617],
                       'std': [0.211883, 0.230117, 0.177517], 'num_classes': 0}}
HUB_RECORDS = [s for s in BUILTIN_SPECS
               if s.source in ('timm', 'transformers') and s.repo_id and not s.weights_file]


def _snapshot(cache: str, repo_id: str, files: dict[str, dict]) -> str:
    base = os.path.join(cache, 'models--' + repo_id.replace('/', '--'))
    snapshot = os.path.join(base, 'snapshots', COMMIT)
    os.makedirs(snapshot, exist_ok=True)
    os.makedirs(os.path.join(base, 'refs'), exist_ok=True)
    with open(os.path.join(base, 'refs', 'main'), 'w') as handle:
        handle.write(COMMIT)
    for name, content in files.items():
        with open(os.path.join(snapshot, name), 'w') as handle:
            json.dump(content, handle)
    return snapshot


def _stated_config(spec, mean=None) -> dict[str, dict]:
    """The config file a hub repository would hold, stating the record's own facts."""
    mean = list(mean or spec.mean)
    size = hub.expected_config_size(spec)
    if spec.source == 'timm':
        return {'config.json': {'architecture': spec.architecture, 'num_features': 1,
                                'pretrained_cfg': {'input_size': [3, size, size], 'mean': mean,
                                                   'std': list(spec.std)}}}
    return {'config.json': {'model_type': 'dinov2'},
            'preprocessor_config.json': {'crop_size': {'height': size, 'width': size},
                                         'image_mean': mean, 'image_std': list(spec.std)}}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    folder = str(tmp_path / 'hub')
    os.makedirs(folder)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', folder)
    return folder


# --- the cached config against the record --------------------------------------------------

@pytest.mark.parametrize('spec', HUB_RECORDS, ids=[s.name for s in HUB_RECORDS])
def test_record_agrees_with_a_config_stating_its_facts(cache, spec):
    _snapshot(cache, str(spec.repo_id), _stated_config(spec))
    facts = hub.stated_facts(spec)
    assert set(facts) == {'mean', 'std', 'input_size'}
    assert hub.mismatches(spec, facts) == []
    moved = _stated_config(spec, mean=[v + 0.01 for v in spec.mean])
    _snapshot(cache, str(spec.repo_id), moved)
    assert [p.split()[0] for p in hub.mismatches(spec, hub.stated_facts(spec))] == ['mean']


def test_h_optimus_record_agrees_with_the_published_timm_config(cache):
    spec = next(s for s in BUILTIN_SPECS if s.name == 'H-optimus-0')
    _snapshot(cache, str(spec.repo_id), {'config.json': HOPTIMUS_MIRROR_CFG})
    assert hub.mismatches(spec, hub.stated_facts(spec)) == []


def test_h0_mini_takes_normalisation_from_its_cached_config(cache, caplog):
    """H0-mini's record holds H-optimus-0's statistics (a secondary source); the model's own
    pretrained_cfg wins, with a warning."""
    record = next(s for s in BUILTIN_SPECS if s.name == 'H0-mini')
    own_mean, own_std = [0.7, 0.58, 0.7], [0.2, 0.23, 0.18]
    _snapshot(cache, 'bioptimus/H0-mini', {'config.json': {
        'architecture': 'vit_base_patch14_reg4_dinov2', 'num_features': 768,
        'pretrained_cfg': {'input_size': [3, 224, 224], 'mean': own_mean, 'std': own_std}}})
    with caplog.at_level(logging.WARNING):
        spec = get_spec('H0-mini')
    assert list(spec.mean) == own_mean and list(spec.std) == own_std
    assert spec.embed_dim == record.embed_dim and spec.pooling == record.pooling
    warning = ' '.join(r.getMessage() for r in caplog.records)
    assert 'H0-mini' in warning and 'disagrees with the record' in warning and 'mean' in warning


def test_a_record_without_a_cached_config_is_unchanged(cache):
    spec = next(s for s in BUILTIN_SPECS if s.name == 'H0-mini')
    assert get_spec('H0-mini') == spec


# --- repository-id case ------------------------------------------------------------------

def test_snapshot_is_found_whatever_the_case_of_the_id(cache):
    _snapshot(cache, 'MahmoodLab/uni', {'config.json': {'architecture': 'x'}})
    assert hub.cached_repo_id('MahmoodLab/UNI') == 'MahmoodLab/uni'
    assert hub.cached_file('MahmoodLab/UNI', 'config.json').endswith('config.json')
    assert hub.cached_repo_id('MahmoodLab/UNI2-h') is None


def test_uni_loads_offline_from_a_cache_filled_by_the_cards_code(tmp_path):
    """A cache written under ``hf-hub:MahmoodLab/uni`` (UNI's card) serves ``--model UNI``."""
    import timm
    import torch

    cache = tmp_path / 'hub'
    snapshot = _snapshot(str(cache), 'MahmoodLab/uni', {})
    torch.manual_seed(0)
    vit = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0)
    timm.models.save_for_hf(vit, snapshot, safe_serialization=True)
    code = textwrap.dedent('''
        import torch
        from EmbeddingSimilarity.models import get_spec
        from EmbeddingSimilarity.models.loaders import build_embedder, resolved_revision
        spec = get_spec('UNI').with_overrides(
            architecture='vit_tiny_patch16_224', model_kwargs={}, architecture_kwargs={},
            embed_dim=192)
        out = build_embedder(spec)(torch.zeros(1, 3, 224, 224))
        print(tuple(out.shape), resolved_revision(spec))
    ''')
    env = dict(os.environ, HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(cache),
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['(1,', '192)', COMMIT]


# --- offline and unreachable hub: one line each -------------------------------------------

@pytest.fixture(scope='module')
def closed_port() -> str:
    """A loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return 'http://127.0.0.1:%d' % port


@pytest.fixture(scope='module')
def silent_hub():
    """A loopback server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(16)
    yield 'http://127.0.0.1:%d' % sock.getsockname()[1]
    sock.close()


MODELS = ['hf:testorg/nothing', 'timm:hf_hub:testorg/nothing', 'UNI']
# name in docs/errors.rst, hub, words the one line must contain
HUB_ROWS = [('hub unreachable', 'closed_port', 'cannot be reached from this machine'),
            ('hub unreachable', 'silent_hub', 'no answer from'),
            ('model not cached', 'offline', 'not in the Hugging Face cache')]


@pytest.mark.parametrize('model', MODELS)
@pytest.mark.parametrize('row, hub_kind, words', HUB_ROWS,
                         ids=['%s-%s' % (r[0], r[1]) for r in HUB_ROWS])
def test_missing_hub_model_gives_one_line(request, cli, sample_slide, tmp_path, model, row,
                                          hub_kind, words):
    env = {'HF_HUB_CACHE': str(tmp_path / 'empty-cache'), 'HF_HOME': str(tmp_path / 'home')}
    if hub_kind == 'offline':
        env['HF_HUB_OFFLINE'] = '1'
    else:
        env.update(HF_HUB_OFFLINE='0', HF_ENDPOINT=request.getfixturevalue(hub_kind),
                   EMBEDDING_SIMILARITY_HUB_TIMEOUT='1')
    flag = '--model' if ':' not in model else '--custom-model'
    out = tmp_path / 'out'
    out.mkdir()
    result = cli(sample_slide, flag, model, '--keypoints', KEYPOINT, '--output-dir', str(out),
                 env=env)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    at = [i for i, line in enumerate(lines) if 'error:' in line]
    assert len(at) == 1, result.stderr
    # what the pathologist can do first; the administrator's detail on the next line
    first, line = lines[at[0]], lines[at[0] + 1]
    assert first.startswith('EmbeddingSimilarity: error: ')
    assert 'is not available on this server' in first and 'HF_' not in first, first
    assert line.startswith('  for the administrator: ')
    assert words in line and '--download-model' in line and 'HF_HOME' in line
    assert 'has no config.json' not in line
    assert 'Traceback' not in result.stderr and 'Retrying' not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3  # the error (2 lines), at most a warning
    if hub_kind != 'offline':
        assert 'EMBEDDING_SIMILARITY_HUB_TIMEOUT' in line
    assert os.listdir(out) == []


def test_unreachable_hub_falls_back_to_a_cached_model(cli, closed_port, tmp_path):
    import timm

    cache = tmp_path / 'hub'
    snapshot = _snapshot(str(cache), 'testorg/tiny-vit', {})
    timm.models.save_for_hf(timm.create_model('vit_tiny_patch16_224', num_classes=0), snapshot,
                            safe_serialization=True)
    result = cli('--download-model', 'timm:hf_hub:testorg/tiny-vit',
                 env={'HF_HUB_OFFLINE': '0', 'HF_ENDPOINT': closed_port,
                      'HF_HUB_CACHE': str(cache), 'EMBEDDING_SIMILARITY_HUB_TIMEOUT': '1'})
    assert result.returncode == 0, result.stderr
    assert 'is ready' in result.stdout and COMMIT in result.stdout
    assert 'cannot be reached' in result.stderr and 'Retrying' not in result.stderr


def test_bad_hub_timeout_is_bad_input(cli, sample_slide, closed_port, tmp_path):
    result = cli(sample_slide, '--custom-model', 'hf:testorg/nothing', '--output-dir',
                 str(tmp_path), env={'HF_HUB_OFFLINE': '0', 'HF_ENDPOINT': closed_port,
                                     'EMBEDDING_SIMILARITY_HUB_TIMEOUT': 'soon'})
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'EMBEDDING_SIMILARITY_HUB_TIMEOUT' in errors[0]


def test_every_hub_row_is_documented():
    with open(os.path.join(REPO, 'docs', 'errors.rst')) as handle:
        text = handle.read()
    for name, *_ in HUB_ROWS:
        assert '%s  ' % name in text, name
    assert 'EMBEDDING_SIMILARITY_HUB_TIMEOUT' in text


# --- the new kinds of record load through their real code paths, offline -------------------

LOADERS_SCRIPT = '''
import argparse, json, os, sys
import torch, timm, open_clip
from transformers import CLIPConfig, CLIPModel
from EmbeddingSimilarity.errors import ModelUnavailableError
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.loaders import build_embedder

cache = os.environ['HF_HUB_CACHE']
def snapshot(repo):
    base = os.path.join(cache, 'models--' + repo.replace('/', '--'))
    os.makedirs(os.path.join(base, 'refs'))
    with open(os.path.join(base, 'refs', 'main'), 'w') as handle:
        handle.write('d' * 40)
    path = os.path.join(base, 'snapshots', 'd' * 40)
    os.makedirs(path)
    return path

torch.manual_seed(0)
x = torch.rand(2, 3, 224, 224)
checks = {}
# PLIP: the projected image embedding of a CLIP checkpoint (transformers)
clip = CLIPModel(CLIPConfig(
    vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=2, patch_size=32, image_size=224),
    text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=2), projection_dim=24)).eval()
clip.save_pretrained(snapshot('testorg/tiny-plip'))
spec = get_spec('PLIP').with_overrides(repo_id='testorg/tiny-plip', embed_dim=24)
with torch.no_grad():
    expected = clip.get_image_features(pixel_values=x)
    expected = getattr(expected, 'pooler_output', expected)
    checks['PLIP'] = (build_embedder(spec)(x), expected)
# QuiltNet: open_clip's encode_image from an hf-hub folder
cfg = {'embed_dim': 16, 'vision_cfg': {'image_size': 224, 'layers': 2, 'width': 64,
                                       'patch_size': 32, 'head_width': 32},
       'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2,
                    'layers': 1}}
oc = open_clip.CLIP(**cfg).eval()
folder = snapshot('testorg/tiny-quilt')
with open(os.path.join(folder, 'open_clip_config.json'), 'w') as handle:
    json.dump({'model_cfg': cfg, 'preprocess_cfg': {}}, handle)
torch.save(oc.state_dict(), os.path.join(folder, 'open_clip_pytorch_model.bin'))
spec = get_spec('QuiltNet-B-32').with_overrides(repo_id='testorg/tiny-quilt', embed_dim=16)
with torch.no_grad():
    checks['QuiltNet-B-32'] = (build_embedder(spec)(x), oc.encode_image(x))
# GPFM: a plain state dict file into a timm architecture
vit = timm.create_model('vit_tiny_patch16_224', num_classes=0).eval()
folder = snapshot('testorg/plain-ckpt')
torch.save(vit.state_dict(), os.path.join(folder, 'GPFM.pth'))
gpfm = get_spec('GPFM').with_overrides(repo_id='testorg/plain-ckpt', embed_dim=192,
                                       architecture='vit_tiny_patch16_224', model_kwargs={},
                                       architecture_kwargs={})
with torch.no_grad():
    checks['GPFM'] = (build_embedder(gpfm)(x), vit.forward_features(x)[:, 0])
# ResNet50-trunc: stage 3 of a timm CNN, average-pooled (resnet10t stands in: same stages)
cnn = timm.create_model('resnet10t', num_classes=0).eval()
timm.models.save_for_hf(cnn, snapshot('testorg/tiny-resnet'), safe_serialization=True)
spec = get_spec('ResNet50-trunc').with_overrides(repo_id='testorg/tiny-resnet', embed_dim=256,
                                                 architecture='resnet10t')
with torch.no_grad():
    stage3 = cnn.layer3(cnn.layer2(cnn.layer1(cnn.maxpool(cnn.act1(cnn.bn1(cnn.conv1(x)))))))
    checks['ResNet50-trunc'] = (build_embedder(spec)(x), stage3.mean(dim=(2, 3)))
for name, (out, expected) in checks.items():
    assert out.shape == expected.shape, (name, out.shape, expected.shape)
    assert torch.allclose(out, expected, atol=1e-5), (name, (out - expected).abs().max())
# a checkpoint holding Python objects besides tensors is refused: one line of what to do,
# one of the administrator's detail
folder = snapshot('testorg/pickled-ckpt')
torch.save({'state_dict': vit.state_dict(), 'args': argparse.Namespace(lr=1)},
           os.path.join(folder, 'GPFM.pth'))
try:
    build_embedder(gpfm.with_overrides(repo_id='testorg/pickled-ckpt'))
except ModelUnavailableError as exc:
    refused = str(exc)
assert 'holds Python objects' in refused and refused.count(chr(10)) == 1, refused
print('ok', ' '.join(sorted(checks)))
'''


def test_new_record_kinds_load_offline_through_the_real_code_paths(tmp_path):
    """PLIP (CLIP image tower, projected), QuiltNet (open_clip), GPFM (plain state dict) and the
    truncated ResNet, each against the same network run by hand."""
    env = dict(os.environ, HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(tmp_path / 'hub'),
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, '-c', LOADERS_SCRIPT], capture_output=True,
                            text=True, cwd=REPO, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ['ok', 'GPFM', 'PLIP', 'QuiltNet-B-32', 'ResNet50-trunc']


# --- the peers' encoders (issue #35) load offline from tiny random-weight hub copies --------

TINY_REMOTE_CODE = '''
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling


class TinyConfig(PretrainedConfig):
    model_type = 'tiny_remote'

    def __init__(self, width=8, **kwargs):
        self.width = width
        super().__init__(**kwargs)


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Conv2d(3, config.width, 16, 16)
        self.cls = nn.Parameter(torch.randn(1, 1, config.width))
        self.post_init()

    def forward(self, pixel_values):
        x = self.proj(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1)
        return BaseModelOutputWithPooling(
            last_hidden_state=x, pooler_output=nn.functional.normalize(x[:, 0], dim=-1))

    def encode_image(self, pixel_values):
        return self.forward(pixel_values).pooler_output * 2, None
'''

PEERS_SCRIPT = '''
import json, os, shutil, sys
import torch, timm
from safetensors.torch import save_file
from timm.layers import SwiGLUPacked
from transformers import BertConfig, BertModel, BertTokenizer
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.loaders import build_embedder
from EmbeddingSimilarity.models.text import load_text_encoder

cache = os.environ['HF_HUB_CACHE']
def snapshot(repo):
    base = os.path.join(cache, 'models--' + repo.replace('/', '--'))
    os.makedirs(os.path.join(base, 'refs'))
    with open(os.path.join(base, 'refs', 'main'), 'w') as handle:
        handle.write('e' * 40)
    path = os.path.join(base, 'snapshots', 'e' * 40)
    os.makedirs(path)
    return path

def tiny(**kwargs):
    return timm.create_model('vit_tiny_patch16_224', num_classes=0, **kwargs).eval()

torch.manual_seed(0)
x = torch.rand(2, 3, 224, 224)
checks = {}
TINY = dict(architecture='vit_tiny_patch16_224', embed_dim=192)
# mSTAR: a timm hub repository, the pooled output
vit = tiny(init_values=1e-5)
timm.models.save_for_hf(vit, snapshot('testorg/tiny-mstar'), safe_serialization=True)
spec = get_spec('mSTAR').with_overrides(repo_id='testorg/tiny-mstar', embed_dim=192)
checks['mSTAR'] = (spec, vit(x))
# EXAONEPath: a DINO ViT's model.safetensors into timm's ViT, the class token
vit = tiny()
save_file(vit.state_dict(), os.path.join(snapshot('testorg/tiny-exaone'), 'model.safetensors'))
spec = get_spec('EXAONEPath').with_overrides(repo_id='testorg/tiny-exaone', **TINY)
checks['EXAONEPath'] = (spec, vit.forward_features(x)[:, 0])
# CRISP: Virchow2's layout with a peft LoRA (r 2) on every qkv, folded in at load (scale 2)
shape = dict(reg_tokens=4, init_values=1e-5, global_pool='', mlp_layer=SwiGLUPacked,
             act_layer=torch.nn.SiLU, mlp_ratio=5.3375)
vit = tiny(**shape)
lora, merged = {}, {}
for key, value in vit.state_dict().items():
    module, _, param = key.rpartition('.')
    if module.endswith('attn.qkv'):
        lora['base_model.model.%s.base_layer.%s' % (module, param)] = value
        if param == 'weight':
            down, up = torch.randn(2, value.shape[1]), torch.randn(value.shape[0], 2)
            lora['base_model.model.%s.lora_A.default.weight' % module] = down
            lora['base_model.model.%s.lora_B.default.weight' % module] = up
            value = value + 2.0 * (up @ down)
    else:
        lora['base_model.model.' + key] = value
    merged[key] = value
torch.save(lora, os.path.join(snapshot('testorg/tiny-crisp'), 'CRISP.pth'))
vit.load_state_dict(merged)
tokens = vit.forward_features(x)
spec = get_spec('CRISP').with_overrides(
    repo_id='testorg/tiny-crisp', architecture='vit_tiny_patch16_224', embed_dim=384,
    architecture_kwargs=dict(reg_tokens=4, init_values=1e-5, global_pool='', mlp_ratio=5.3375))
checks['CRISP'] = (spec, torch.cat([tokens[:, 0], tokens[:, 5:].mean(1)], dim=-1))
# CROWN: a DINOv2 checkpoint (block chunks, fused SwiGLU w12/w3, mask_token) into timm's ViT
vit = tiny(init_values=1.0, mlp_layer=SwiGLUPacked, act_layer=torch.nn.SiLU, mlp_ratio=4.0)
dinov2 = {'mask_token': torch.zeros(1, 192)}
for key, value in vit.state_dict().items():
    key = key.replace('.mlp.fc1.', '.mlp.w12.').replace('.mlp.fc2.', '.mlp.w3.')
    if key.startswith('blocks.'):
        index = int(key.split('.')[1])
        key = 'blocks.%d.%s' % (index // 4, key.split('.', 1)[1])
    dinov2[key] = value
torch.save(dinov2, os.path.join(snapshot('testorg/tiny-crown'), 'CROWN.pth'))
spec = get_spec('CROWN').with_overrides(repo_id='testorg/tiny-crown', embed_dim=192,
                                        architecture='vit_tiny_patch16_224',
                                        architecture_kwargs=dict(init_values=1.0, mlp_ratio=4.0))
checks['CROWN'] = (spec, vit.forward_features(x)[:, 0])
# KEEP: rebuilt without its remote code, a timm ViT + Linear-GELU-Linear head
vit = tiny(init_values=1e-5)
head = torch.nn.Sequential(torch.nn.Linear(192, 16), torch.nn.GELU(), torch.nn.Linear(16, 16))
weights = {'visual.' + k.replace('.gamma', '.weight'): v for k, v in vit.state_dict().items()}
weights.update({'visual_head.' + k: v for k, v in head.state_dict().items()})
text_config = dict(vocab_size=12, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                   intermediate_size=32, max_position_embeddings=256)
bert = BertModel(BertConfig(**text_config)).eval()
weights.update({'text.' + k: v.contiguous() for k, v in bert.state_dict().items()})
weights['logit_scale'] = torch.ones(())
folder = snapshot('testorg/tiny-keep')
save_file(weights, os.path.join(folder, 'model.safetensors'))
with open(os.path.join(folder, 'config.json'), 'w') as handle:
    json.dump({'vision_config': {'img_size': 224, 'patch_size': 16, 'init_values': 1e-5,
                                 'num_classes': 0}, 'projection_dim': 16,
               'text_config': text_config}, handle)
with open(os.path.join(folder, 'vocab.txt'), 'w') as handle:
    handle.write(chr(10).join(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'tumour', 'nests',
                               'necrosis', 'stroma', 'fat', 'an', 'image']))
tokens = BertTokenizer(os.path.join(folder, 'vocab.txt'))(
    ['tumour nests', 'fat'], max_length=256, padding='max_length', truncation=True,
    return_tensors='pt')
with torch.no_grad():
    keep_text = torch.nn.functional.normalize(bert(**tokens).pooler_output, dim=-1)
spec = get_spec('KEEP').with_overrides(repo_id='testorg/tiny-keep', embed_dim=16,
                                       architecture='vit_tiny_patch16_224')
checks['KEEP'] = (spec, head(vit(x)))
# RudolfV-2, Mascaret, ConceptCLIP: remote code, run only with consent
sys.path.insert(0, os.environ['TINY_CODE'])
import modeling_tiny
remote = modeling_tiny.TinyModel(modeling_tiny.TinyConfig(width=8)).eval()
folder = snapshot('testorg/tiny-remote')
remote.save_pretrained(folder)
shutil.copy(os.path.join(os.environ['TINY_CODE'], 'modeling_tiny.py'), folder)
with open(os.path.join(folder, 'config.json')) as handle:
    config = json.load(handle)
config['auto_map'] = {'AutoConfig': 'modeling_tiny.TinyConfig',
                      'AutoModel': 'modeling_tiny.TinyModel'}
with open(os.path.join(folder, 'config.json'), 'w') as handle:
    json.dump(config, handle)
out = remote(pixel_values=x)
for name, expected in (('RudolfV-2', out.last_hidden_state[:, 0]),
                       ('Mascaret', out.pooler_output),
                       ('ConceptCLIP', remote.encode_image(x)[0])):
    spec = get_spec(name, trust_remote_code=True).with_overrides(repo_id='testorg/tiny-remote',
                                                                 embed_dim=8)
    checks[name] = (spec, expected)
for name, (spec, expected) in checks.items():
    with torch.no_grad():
        out = build_embedder(spec)(x)
    assert out.shape == expected.shape, (name, out.shape, expected.shape)
    assert torch.allclose(out, expected.detach(), atol=1e-5), (name, (out - expected).abs().max())
# OmiCLIP: a CoCa config by name + checkpoint.pt, image and text towers (a tiny CoCa config)
import open_clip
coca_cfg = {'embed_dim': 16, 'custom_text': True,
            'vision_cfg': {'image_size': 224, 'layers': 1, 'width': 32, 'patch_size': 32,
                           'head_width': 16, 'attentional_pool': True, 'attn_pooler_heads': 2,
                           'output_tokens': True},
            'text_cfg': {'context_length': 76, 'vocab_size': 49408, 'width': 32, 'heads': 2,
                         'layers': 1, 'embed_cls': True, 'output_tokens': True},
            'multimodal_cfg': {'context_length': 76, 'vocab_size': 49408, 'width': 32,
                               'heads': 2, 'layers': 1, 'attn_pooler_heads': 2}}
configs = os.path.join(os.environ['TINY_CODE'], 'open_clip_configs')
os.makedirs(configs)
with open(os.path.join(configs, 'coca_tiny.json'), 'w') as handle:
    json.dump(coca_cfg, handle)
open_clip.add_model_config(configs)
coca = open_clip.create_model('coca_tiny').eval()
torch.save(coca.state_dict(), os.path.join(snapshot('testorg/tiny-loki'), 'checkpoint.pt'))
omiclip = get_spec('OmiCLIP').with_overrides(repo_id='testorg/tiny-loki', embed_dim=16,
                                             architecture='coca_tiny')
with torch.no_grad():
    out = build_embedder(omiclip)(x)
    assert torch.allclose(out, coca.encode_image(x), atol=1e-5)
    words = coca.encode_text(open_clip.get_tokenizer('coca_tiny')(['tumour nests']))
vectors = load_text_encoder(omiclip).encode(['tumour nests'])
assert torch.allclose(torch.from_numpy(vectors), words, atol=1e-5)
# KEEP's BERT text tower, rebuilt from the same files, in the image tower's space
vectors = load_text_encoder(checks['KEEP'][0]).encode(['tumour nests', 'fat'])
assert vectors.shape == (2, 16) and torch.allclose(torch.from_numpy(vectors), keep_text,
                                                   atol=1e-5)
print('ok', ' '.join(sorted(checks)))
'''


def test_peer_encoders_load_offline_from_tiny_hub_copies(tmp_path):
    """mSTAR (timm hub), EXAONEPath (safetensors into timm), CRISP (LoRA folded in), CROWN
    (DINOv2 checkpoint renamed), KEEP (rebuilt without remote code, its BERT text tower too),
    OmiCLIP's CoCa text tower and the remote-code models (with consent), each against the same
    tiny network run by hand."""
    code = tmp_path / 'code'
    code.mkdir()
    (code / 'modeling_tiny.py').write_text(TINY_REMOTE_CODE)
    env = dict(os.environ, HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(tmp_path / 'hub'),
               HF_HOME=str(tmp_path / 'home'), TINY_CODE=str(code),
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([sys.executable, '-c', PEERS_SCRIPT], capture_output=True,
                            text=True, cwd=REPO, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ['ok', 'CRISP', 'CROWN', 'ConceptCLIP', 'EXAONEPath', 'KEEP',
                                     'Mascaret', 'RudolfV-2', 'mSTAR']
