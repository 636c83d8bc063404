"""Text queries with the vision-language models, on a small CLIP made offline
(:mod:`tiny_clip`: random weights, the real CLIP BPE tokenizer from open_clip's files).

* prompt parsing, refusals (no text tower, external code, empty prompt, too long) in one line;
* prompt ensembling arithmetic (normalise each, mean, renormalise), through the real encoder;
* the shared space: the text vectors equal the full CLIP's / open_clip's ``get_text_features``
  and have the image tower's projected width; open_clip's text tower loads without building the
  image tower;
* the CLI end to end on the sample slide: text alone, text + a key point, and a cached text
  query that re-embeds nothing and never builds the image tower.

Semantic quality needs the real weights: see benchmarks/bench_zero_shot.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli

from EmbeddingSimilarity.errors import InputError, ModelUnavailableError
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.text import (
    TextEncoder,
    check_text_tower,
    ensemble_vectors,
    split_prompts,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = 'hf:testorg/tiny-clip'


def test_prompts_split_on_semicolons_and_refuse_an_empty_one():
    assert split_prompts(' tumour nests ;necrosis ') == ['tumour nests', 'necrosis']
    assert split_prompts('  ') == []
    for bad in ('tumour;;necrosis', ';', 'necrosis;'):
        with pytest.raises(InputError, match='empty prompt'):
            split_prompts(bad)


def test_models_without_a_usable_text_tower_refuse_in_one_line():
    with pytest.raises(InputError) as info:
        check_text_tower(get_spec('UNI'))
    line = str(info.value)
    assert 'no text tower' in line and 'PLIP' in line and 'QuiltNet-B-32' in line
    assert '\n' not in line
    with pytest.raises(ModelUnavailableError) as info:
        check_text_tower(get_spec('CONCH'))
    first, admin = str(info.value).split('\n')  # what to do; the administrator's detail
    assert 'not available on this server' in first and 'github.com/Mahmoodlab/CONCH' in admin
    with pytest.raises(ModelUnavailableError, match='MUSK'):
        check_text_tower(get_spec('MUSK'))
    for name in ('PLIP', 'QuiltNet-B-32'):
        spec = get_spec(name)
        check_text_tower(spec)  # no error: a tower this package loads
        assert spec.pooling == 'projection' and len(spec.prompt_templates) >= 1


def test_prompt_ensembling_is_the_renormalised_mean_of_unit_template_embeddings():
    rng = np.random.default_rng(0)
    table = {}

    def tokenize(texts):
        import torch

        rows = [table.setdefault(text, rng.normal(size=8) * rng.uniform(0.5, 5.0))
                for text in texts]
        return torch.tensor(np.array(rows))
    spec = get_spec('QuiltNet-B-32').with_overrides(prompt_templates=('{}.', 'an image of {}.',
                                                                      'this is {}.'))
    encoder = TextEncoder(spec, None, tokenize, 77, lambda text: len(text.split()) + 2)
    got = encoder.ensemble('necrosis')
    rows = np.array([table[t] for t in ('necrosis.', 'an image of necrosis.',
                                        'this is necrosis.')])
    units = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    expected = units.mean(axis=0) / np.linalg.norm(units.mean(axis=0))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # the plain mean of the raw rows differs: each template is normalised first
    raw = rows.mean(axis=0) / np.linalg.norm(rows.mean(axis=0))
    assert not np.allclose(got, raw, atol=1e-3)
    np.testing.assert_allclose(ensemble_vectors(rows), expected, rtol=1e-5)
    with pytest.raises(InputError, match='longer than the 77-token context'):
        encoder.ensemble(' '.join(['word'] * 80))


SPACE_SCRIPT = r'''
import numpy as np, open_clip, torch
from transformers import AutoTokenizer, CLIPModel
from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.loaders import build_embedder, _hub_repo
from EmbeddingSimilarity.models.text import load_text_encoder, prompt_vectors
import tiny_clip

out = {}
spec = get_spec('hf:' + tiny_clip.CLIP_REPO)
x = torch.rand(2, 3, 224, 224)
image = build_embedder(spec)(x).detach().numpy()
text = prompt_vectors(spec, ['tumour nests', 'necrosis'])
repo = _hub_repo(spec)
full = CLIPModel.from_pretrained(repo).eval()
tokens = AutoTokenizer.from_pretrained(repo)(['tumour nests', 'necrosis'], padding=True,
                                             return_tensors='pt')
with torch.no_grad():
    ref = full.get_text_features(**tokens)
    ref = getattr(ref, 'pooler_output', ref).numpy()
    ref_image = full.get_image_features(pixel_values=x)
    ref_image = getattr(ref_image, 'pooler_output', ref_image).numpy()
ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
out['clip'] = [spec.embed_dim, image.shape[1], text.shape[1],
               float(np.abs(text - ref).max()), float(np.abs(image - ref_image).max()),
               spec.prompt_templates == ('{}',)]
try:
    load_text_encoder(spec).ensemble(' '.join(['necrosis'] * 90))
except InputError as exc:
    out['long'] = str(exc)
quilt = get_spec('QuiltNet-B-32').with_overrides(repo_id=tiny_clip.QUILT_REPO,
                                                 embed_dim=tiny_clip.OPEN_CLIP_DIM,
                                                 prompt_templates=('{}',))
import open_clip.model as open_clip_model
build_vision = open_clip_model._build_vision_tower

def no_vision(*args, **kwargs):
    raise AssertionError('the open_clip image tower was built for a text query')
open_clip_model._build_vision_tower = no_vision
qtext = prompt_vectors(quilt, ['tumour'])
open_clip_model._build_vision_tower = build_vision
model = open_clip.create_model('hf-hub:' + _hub_repo(quilt)).eval()
with torch.no_grad():
    qref = model.encode_text(open_clip.get_tokenizer('hf-hub:' + _hub_repo(quilt))(['tumour']))
    qimage = build_embedder(quilt)(x)
qref = (qref / qref.norm(dim=1, keepdim=True)).numpy()
out['quilt'] = [qimage.shape[1], qtext.shape[1], float(np.abs(qtext - qref).max())]
print(json.dumps(out))
'''


def test_text_and_image_towers_share_the_projected_space(clip_hub):
    """Text vectors equal the full model's normalised text features; their width is the
    projected image embedding's (transformers CLIP and open_clip)."""
    result = subprocess.run([sys.executable, '-c', 'import json\n' + SPACE_SCRIPT],
                            capture_output=True, text=True, cwd=REPO, timeout=600,
                            env=dict(os.environ, **clip_hub), check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    dim, image_dim, text_dim, text_error, image_error, plain = out['clip']
    assert dim == image_dim == text_dim == 24 and plain
    assert text_error < 1e-5 and image_error < 1e-5
    assert 'longer than the 77-token context' in out['long'] and '\n' not in out['long']
    qimage_dim, qtext_dim, qerror = out['quilt']
    assert qimage_dim == qtext_dim == 16 and qerror < 1e-5


def _annotation(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def _values(annotation: dict) -> list:
    return [element.get('values') or element.get('points') for element in
            annotation['elements']]


NO_IMAGE_TOWER = r'''
import sys
import EmbeddingSimilarity.engine.build as build
import EmbeddingSimilarity.models.loaders as loaders

def refuse(*args, **kwargs):
    raise AssertionError('the image tower was loaded')
build.load_engine = loaders.build_backbone = loaders.build_embedder = refuse
from EmbeddingSimilarity.cli.main import main
sys.exit(main(sys.argv[1:]))
'''


def test_text_query_end_to_end_and_cached_without_the_image_tower(clip_hub, sample_slide,
                                                                   tmp_path):
    first = run_cli(sample_slide, '--custom-model', MODEL, '--text-queries',
                    'tumour nests; necrosis', '--output-dir', str(tmp_path / 'a'), env=clip_hub)
    assert first.returncode == 0, first.stderr[-2000:]
    # the image tower skips the text weights: transformers' table of them (and its progress
    # bars) stay out of the log
    assert 'LOAD REPORT' not in first.stderr and 'Loading weights' not in first.stderr, \
        first.stderr[-2000:]
    folder = tmp_path / 'a'
    cache = next(str(folder / name) for name in os.listdir(folder) if name.endswith('.npz'))
    annotation = _annotation(str(folder / 'cmu_small_region.similarity.anot'))
    assert "'tumour nests; necrosis'" in annotation['description']
    assert annotation['attributes']['EmbeddingSimilarity']['textQueries'] == \
        'tumour nests; necrosis'
    assert os.path.getsize(folder / 'cmu_small_region.similarity.png') > 0
    # the cached text query: the same map, nothing embedded, the image tower never built
    again = subprocess.run(
        [sys.executable, '-c', NO_IMAGE_TOWER, sample_slide, '--custom-model', MODEL,
         '--text-queries', 'tumour nests; necrosis', '--input-embeddings', cache,
         '--output-dir', str(tmp_path / 'b')], capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, **clip_hub), timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    assert '0 embedded now' in again.stderr and 'reused' in again.stderr, again.stderr[-2000:]
    cached = _annotation(str(tmp_path / 'b' / 'cmu_small_region.similarity.anot'))
    assert _values(cached) == _values(annotation)
    # text + a key point: each weighs the same; the map differs from text alone
    both = run_cli(sample_slide, '--custom-model', MODEL, '--text-queries', 'necrosis',
                   '--keypoints', '1000,1500', '--input-embeddings', cache,
                   '--output-dir', str(tmp_path / 'c'), env=clip_hub)
    assert both.returncode == 0, both.stderr[-2000:]
    combined = _annotation(str(tmp_path / 'c' / 'cmu_small_region.similarity.anot'))
    assert '1 key shape(s)' in combined['description']
    assert _values(combined) != _values(annotation)


@pytest.mark.parametrize('args, words', [
    (('--model', 'Test', '--text-queries', 'tumour'), 'has no text tower'),
    (('--custom-model', MODEL, '--text-queries', 'tumour;;fat'), 'empty prompt'),
    (('--custom-model', MODEL, '--negative-text-queries', 'fat'), 'needs a positive query'),
    (('--custom-model', MODEL, '--text-queries', 'fat', '--scorer', 'linear'),
     'not words'),
])
def test_bad_text_queries_give_one_line(clip_hub, sample_slide, tmp_path, args, words):
    result = run_cli(sample_slide, *args, '--output-dir', str(tmp_path), env=clip_hub)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1 and words in lines[0], result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    assert not any(name.endswith(('.npz', '.anot')) for name in os.listdir(tmp_path))


def test_text_on_another_models_cache_is_refused_in_one_line(clip_hub, sample_slide, tmp_path):
    """Words and a click for the CLIP model on a grid the Test model embedded: the cache is
    refused (its vectors are in another space), nothing is written."""
    first = run_cli(sample_slide, '--model', 'Test', '--output-dir', str(tmp_path / 'a'),
                    '--keypoints', '1000,1500', env=clip_hub)
    assert first.returncode == 0, first.stderr[-2000:]
    cache = str(tmp_path / 'a' / 'cmu_small_region.Test.npz')
    mixed = run_cli(sample_slide, '--custom-model', MODEL, '--text-queries', 'tumour',
                    '--keypoints', '1000,1500', '--input-embeddings', cache,
                    '--output-dir', str(tmp_path / 'b'), env=clip_hub)
    assert mixed.returncode not in (0, 1), mixed.stderr[-2000:]  # a user error, not a bug
    lines = [line for line in mixed.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1 and "model 'Test' != requested" in lines[0], mixed.stderr[-2000:]
    assert not any(name.endswith(('.npz', '.anot')) for name in os.listdir(tmp_path / 'b'))


def test_cluster_labels_take_the_closest_prompt_and_its_margin():
    from EmbeddingSimilarity.query.clusters import prompt_labels

    prompts = ['tumour', 'stroma', 'fat']
    vectors = np.eye(3, 4, dtype=np.float32)
    centres = np.array([[0.1, 2.0, 0.5, 0.0], [3.0, 0.0, 0.0, 4.0]], dtype=np.float32)
    labels = prompt_labels(centres, vectors, prompts)
    assert [name for name, _, _ in labels] == ['stroma', 'tumour']
    unit = centres / np.linalg.norm(centres, axis=1, keepdims=True)
    assert labels[0][1] == pytest.approx(unit[0, 1], rel=1e-6)
    assert labels[0][2] == pytest.approx(unit[0, 1] - unit[0, 2], rel=1e-6)
    assert labels[1][2] == pytest.approx(0.6, rel=1e-6)  # 3/5 against 0


def test_cluster_map_names_its_groups_by_prompt(clip_hub, sample_slide, tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'EmbeddingClusters', 'EmbeddingClusters.py'),
         sample_slide, '--custom-model', MODEL, '--clusters', '3', '--label-prompts',
         'tumour; stroma; adipose tissue', '--output-dir', str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **clip_hub),
        timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    annotation = _annotation(str(tmp_path / 'cmu_small_region.clusters.anot'))
    groups = annotation['attributes']['EmbeddingClusters']['groups']
    assert len(groups) == 3
    for i, group in enumerate(groups):
        assert re.match(r'Cluster %d · \d+%% of tissue: ' % i, group) and '(margin +' in group
        assert group.split(': ', 1)[1].rsplit(' (', 1)[0] in ('tumour', 'stroma',
                                                               'adipose tissue')
    named = {element.get('group') for element in annotation['elements']} - {None}
    assert named == set(groups)
    refused = subprocess.run(
        [sys.executable, os.path.join(REPO, 'EmbeddingClusters', 'EmbeddingClusters.py'),
         sample_slide, '--model', 'Test', '--label-prompts', 'tumour',
         '--output-dir', str(tmp_path / 'no')], capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, **clip_hub), timeout=600, check=False)
    assert refused.returncode != 0 and 'has no text tower' in refused.stderr
    assert 'Traceback' not in refused.stderr


def test_collection_search_in_words(clip_hub, sample_slide, tmp_path):
    """No key point: the query is the prompts' direction; every slide is searched as for a
    click and the CSV ranks cells by their cosine with it."""
    import shutil

    folder = tmp_path / 'slides'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'copy.svs')
    # the query image is searched too and cached beside it: a copy, never the repository's
    query = shutil.copy(sample_slide, tmp_path / 'cmu_small_region.svs')
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, 'CollectionSimilarity', 'CollectionSimilarity.py'),
         str(query), '--custom-model', MODEL, '--text-queries', 'tumour; necrosis',
         '--collection', str(folder), '--top-k', '5', '--output-dir', str(tmp_path / 'out')],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **clip_hub),
        timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / 'out' / 'cmu_small_region.collection.csv') as handle:
        rows = handle.read().strip().splitlines()
    assert rows[0].startswith('rank,image,x,y,score') and len(rows) == 6
    scores = [float(row.split(',')[4]) for row in rows[1:]]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0
    assert 'text tower' in result.stderr or 'prompt' in result.stderr
    # no query slide: the folder stands in for it and is the collection; the copy is searched
    # alone, from the cache the first search left, and ranks the same cells
    alone = subprocess.run(
        [sys.executable, os.path.join(REPO, 'CollectionSimilarity', 'CollectionSimilarity.py'),
         str(folder), '--custom-model', MODEL, '--text-queries', 'tumour; necrosis',
         '--top-k', '5', '--output-dir', str(tmp_path / 'alone')],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **clip_hub),
        timeout=600, check=False)
    assert alone.returncode == 0, alone.stderr[-2000:]
    with open(tmp_path / 'alone' / 'slides.collection.csv') as handle:
        ranked = handle.read().strip().splitlines()
    assert {row.split(',')[1] for row in ranked[1:]} == {'copy.svs'}
    copy_rows = [row.split(',', 1)[1] for row in rows[1:] if ',copy.svs,' in row]
    assert [row.split(',', 1)[1] for row in ranked[1:len(copy_rows) + 1]] == copy_rows
    # words with a key point on the query slide: both count, so the ranking changes
    both = subprocess.run(
        [sys.executable, os.path.join(REPO, 'CollectionSimilarity', 'CollectionSimilarity.py'),
         str(query), '--custom-model', MODEL, '--text-queries', 'tumour; necrosis',
         '--keypoints', '1000,1500', '--collection', str(folder), '--top-k', '5',
         '--output-dir', str(tmp_path / 'both')],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **clip_hub),
        timeout=600, check=False)
    assert both.returncode == 0, both.stderr[-2000:]
    with open(tmp_path / 'both' / 'cmu_small_region.collection.csv') as handle:
        assert handle.read().strip().splitlines()[1:] != rows[1:]
    # a folder with key points has no slide to click on: one line
    clicked = subprocess.run(
        [sys.executable, os.path.join(REPO, 'CollectionSimilarity', 'CollectionSimilarity.py'),
         str(folder), '--custom-model', MODEL, '--keypoints', '1000,1500',
         '--output-dir', str(tmp_path / 'clicked')],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, **clip_hub),
        timeout=600, check=False)
    assert clicked.returncode == 2 and 'key points need a query slide' in clicked.stderr
    assert 'Traceback' not in clicked.stderr
