"""Text towers of the vision-language models: load one, tokenize prompts, and embed them in the
space the image tower's projected embeddings (pooling ``projection``) live in.

Only the text tower loads: transformers ``CLIPTextModelWithProjection`` reads the text half of a
``CLIPModel`` checkpoint; for open_clip, the text tower is built alone from the model's config
and filled from its half of the checkpoint. Models whose text tower needs the authors' package
(CONCH, MUSK) refuse with what to install. KEEP's BERT tower is rebuilt from its config and the
``text.`` half of its weights, without the repository's code. torch is imported only when a
tower loads.

Prompt ensembling: a prompt's embedding is the renormalised mean of its unit embeddings under
each of the model's templates (CLIP's zero-shot recipe).
"""

from __future__ import annotations

import pickle
import unicodedata
from typing import Any

import numpy as np

from ..errors import InputError, ModelUnavailableError
from .spec import ModelSpec

BERT_CONTEXT = 256
"""KEEP's text context: its prompts are padded and cut to 256 tokens (lazyslide-models
``multimodal/keep.py``)."""
MAX_PROMPT_CHARS = 1000
"""Longer than any tokenizer context; refused before tokenizing."""


MAX_PROMPTS = 1000
"""Prompts in one query: more is a pasted file, not a question (each costs a text-model pass)."""


def _visible(prompt: str) -> bool:
    """Whether ``prompt`` holds a letter, digit, punctuation mark or symbol (not only spaces or
    zero-width and other format characters)."""
    return any(unicodedata.category(char)[0] in 'LNPS' for char in prompt)


def split_prompts(text: str, name: str = '--text-queries') -> list[str]:
    """The prompts of ``a;b;c``; an empty one (``a;;b``, ``;``, or only invisible characters
    such as zero-width spaces) is refused, and so are more than :data:`MAX_PROMPTS`."""
    if not text.strip():
        return []
    prompts = [part.strip() for part in text.split(';')]
    if len(prompts) > MAX_PROMPTS:
        raise InputError('%s holds %d prompts; give at most %d (each is run through the text '
                         'model)' % (name, len(prompts), MAX_PROMPTS))
    if any(not _visible(prompt) for prompt in prompts):
        raise InputError('%s %s holds an empty prompt (nothing visible); give words between the '
                         '";"' % (name, ascii(text[:80])))
    for prompt in prompts:
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError('%s: a prompt of %d characters is too long; keep each prompt to a '
                             'short phrase' % (name, len(prompt)))
    return prompts


LOADABLE = ('transformers', 'open_clip', 'bert')
"""Text towers this package loads with its own dependencies."""


def text_model_names() -> list[str]:
    """The registry's models whose text tower loads with this package's dependencies."""
    from .registry import list_specs

    return [spec.name for spec in list_specs() if spec.text_tower in LOADABLE]


def check_text_tower(spec: ModelSpec) -> None:
    """Refuse, in one line, text on a model without a text tower (or whose tower needs code
    that is not installed), or whose image embeddings are not the projected ones."""
    if spec.text_tower is None:
        raise InputError('model %s has no text tower, so it cannot take text queries; use one of '
                         '%s, or an hf: CLIP model' % (spec.name, ', '.join(text_model_names())))
    if spec.text_tower == 'external':
        how = spec.text_source or '; '.join(spec.requires.values()) or 'the authors\' package'
        raise ModelUnavailableError(
            'model %s: its text tower needs the authors\' code, which this tool does not drive '
            'yet (%s); use %s for text queries' % (spec.name, how, ', '.join(text_model_names())))
    if spec.pooling != 'projection':
        raise InputError('model %s: text queries need the projected image embedding (--pooling '
                         'projection), not %s' % (spec.name, spec.pooling))


class TextEncoder:
    """A loaded text tower: prompts in, unit vectors (``(N, D)`` float32) out."""

    def __init__(self, spec: ModelSpec, model: Any, tokenize: Any, context: int,
                 count_tokens: Any) -> None:
        self.spec, self.model, self.tokenize = spec, model, tokenize
        self.context, self.count_tokens = context, count_tokens

    def check_length(self, prompt: str) -> None:
        count = self.count_tokens(prompt)
        if count > self.context:
            raise InputError('prompt %r is %d tokens, longer than the %d-token context of %s\'s '
                             'text tower; shorten it' % (prompt[:60], count, self.context,
                                                         self.spec.name))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit text embeddings of ``texts`` (already templated)."""
        import torch

        for text in texts:
            self.check_length(text)
        with torch.no_grad():
            features = self.tokenize(texts)
        vectors = features.float().numpy()
        return unit(vectors)

    def ensemble(self, prompt: str) -> np.ndarray:
        """One prompt under every template: normalise each, average, renormalise."""
        self.check_length(prompt)
        return ensemble_vectors(self.encode([t.format(prompt) for t in
                                             self.spec.prompt_templates]))


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def ensemble_vectors(vectors: np.ndarray) -> np.ndarray:
    """The renormalised mean of the unit rows of ``vectors``."""
    return unit(unit(vectors).mean(axis=0))


def _transformers_tower(spec: ModelSpec) -> TextEncoder:
    import torch
    from transformers import AutoConfig, AutoTokenizer, CLIPTextModelWithProjection

    from .hub import quiet_transformers
    from .loaders import _hub_repo

    repo = _hub_repo(spec)
    tokenizer = AutoTokenizer.from_pretrained(repo, revision=spec.revision)
    # the text config, with the projection size the full model states (as the image tower)
    with quiet_transformers():
        full = AutoConfig.from_pretrained(repo, revision=spec.revision)
    config = getattr(full, 'text_config', full)
    if getattr(full, 'projection_dim', None):
        config.projection_dim = full.projection_dim
    with quiet_transformers():  # the image weights it skips are expected
        model = CLIPTextModelWithProjection.from_pretrained(repo, revision=spec.revision,
                                                            config=config).eval()
    context = int(model.config.max_position_embeddings)

    def run(texts: list[str]) -> torch.Tensor:
        tokens = tokenizer(texts, padding=True, truncation=True, max_length=context,
                           return_tensors='pt')
        return model(**tokens).text_embeds
    return TextEncoder(spec, model, run, context,
                       lambda text: len(tokenizer(text, truncation=False)['input_ids']))


def _bert_tower(spec: ModelSpec) -> TextEncoder:
    """A BERT text tower kept in a model's own weights file (KEEP: ``text.`` entries of
    model.safetensors, shaped by config.json's text_config), rebuilt without the repository's
    code; its pooler output, unit-normalised (github.com/rendeirolab/lazyslide-models
    ``multimodal/keep.py``, encode_text: 256 tokens, padded)."""
    import json

    import torch
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open
    from transformers import BertConfig, BertModel, BertTokenizer

    from .loaders import _hub_repo

    repo = _hub_repo(spec)
    with open(hf_hub_download(repo, 'config.json', revision=spec.revision)) as handle:
        config = json.load(handle)
    model = BertModel(BertConfig(**config['text_config']))
    path = hf_hub_download(repo, str(spec.weights_file), revision=spec.revision)
    with safe_open(path, framework='pt') as handle:
        names = [key for key in handle.keys() if key.startswith('text.')]  # noqa: SIM118
        state = {key[len('text.'):]: handle.get_tensor(key) for key in names}
    model.load_state_dict(state)
    model.eval()
    # AutoTokenizer would read config.json and ask for the repository's code
    tokenizer = BertTokenizer.from_pretrained(repo, revision=spec.revision)
    context = BERT_CONTEXT

    def run(texts: list[str]) -> torch.Tensor:
        tokens = tokenizer(texts, max_length=context, padding='max_length', truncation=True,
                           return_tensors='pt')
        return model(**tokens).pooler_output
    return TextEncoder(spec, model, run, context,
                       lambda text: len(tokenizer(text, truncation=False)['input_ids']))


def _open_clip_tower(spec: ModelSpec) -> TextEncoder:
    import open_clip
    import torch

    from .loaders import _hub_repo

    if spec.weights_file:  # an open_clip config by name + a checkpoint (OmiCLIP: CoCa)
        name = str(spec.architecture)
        model = _open_clip_named_text(spec)
    else:
        name = 'hf-hub:' + _hub_repo(spec)
        model = _open_clip_text_only(_hub_repo(spec), spec.revision)
    tokenizer = open_clip.get_tokenizer(name)
    context = int(getattr(tokenizer, 'context_length', 77))
    encode = getattr(tokenizer, 'encode', None)

    def run(texts: list[str]) -> torch.Tensor:
        out = model(tokenizer(texts))
        return out[0] if isinstance(out, tuple) else out  # CoCa: (text latent, tokens)

    def count(text: str) -> int:  # + start and end tokens
        return len(encode(text)) + 2 if encode is not None else len(tokenizer([text])[0])
    return TextEncoder(spec, model, run, context, count)


def _open_clip_text_only(repo: str, revision: str | None) -> Any:
    """The text tower of an open_clip hub model, built alone from its ``open_clip_config.json``
    and filled from the text half of its checkpoint: the image tower is never built.

    A ``CLIP`` keeps its text modules at the top level (``token_embedding``, ``transformer``,
    ``ln_final``, ``text_projection``, the names of ``TextTransformer``'s); a ``CustomTextCLIP``
    (a Hugging Face text encoder, e.g. BiomedCLIP) under ``text.``."""
    from open_clip.factory import _get_hf_config, download_pretrained_from_hf
    from open_clip.model import _build_text_tower

    config = _get_hf_config(repo)['model_cfg']
    text_cfg = dict(config['text_cfg'])
    if 'hf_model_name' in text_cfg:
        text_cfg['hf_model_pretrained'] = False  # the checkpoint holds its weights
    tower = _build_text_tower(config['embed_dim'], text_cfg,
                              quick_gelu=config.get('quick_gelu', False))
    return _fill_text(tower, download_pretrained_from_hf(repo, revision=revision), repo)


def _open_clip_named_text(spec: ModelSpec) -> Any:
    """The text tower of an open_clip config named by the record (``architecture``), filled
    from the text half of ``weights_file`` in its hub repository (tensors only)."""
    import open_clip
    from huggingface_hub import hf_hub_download
    from open_clip.model import _build_text_tower

    from .loaders import _hub_repo

    config = open_clip.get_model_config(str(spec.architecture))
    tower = _build_text_tower(config['embed_dim'], config['text_cfg'],
                              quick_gelu=config.get('quick_gelu', False))
    path = hf_hub_download(_hub_repo(spec), str(spec.weights_file), revision=spec.revision)
    return _fill_text(tower, path, str(spec.repo_id))


def _fill_text(tower: Any, checkpoint: str, repo: str) -> Any:
    mine = set(tower.state_dict())
    text = _text_weights(checkpoint, mine)
    missing = sorted(mine - set(text))
    if missing:
        raise RuntimeError('the checkpoint of %s lacks text-tower weights (%s)'
                           % (repo, ', '.join(missing[:3])))
    tower.load_state_dict(text)
    return tower.eval()


def _text_weights(checkpoint: str, names: set[str]) -> dict:
    """The text tower's tensors of an open_clip checkpoint, read without materialising the
    image tower's: safetensors reads only those keys, a torch file is memory-mapped."""
    if checkpoint.endswith('.safetensors'):
        from safetensors import safe_open

        with safe_open(checkpoint, framework='pt') as handle:
            keys = list(handle.keys())
            wanted = [k for k in keys if k.startswith('text.')] or [k for k in keys if k in names]
            state = {key: handle.get_tensor(key) for key in wanted}
    else:
        import torch

        state = torch.load(checkpoint, map_location='cpu', weights_only=True, mmap=True)
        state = state.get('state_dict', state)
        state = {key.removeprefix('module.'): value for key, value in state.items()}
    text = {key[len('text.'):]: value for key, value in state.items() if key.startswith('text.')}
    if not text:
        text = {key: value for key, value in state.items() if key in names}
    return text


_LOADED: dict[tuple, TextEncoder] = {}


def _load(spec: ModelSpec) -> TextEncoder:
    from .loaders import _explain_load_failure, check_requirements

    key = (spec.name, spec.repo_id, spec.revision, spec.text_tower)
    if key in _LOADED:
        return _LOADED[key]
    check_requirements(spec)
    try:
        build = {'open_clip': _open_clip_tower, 'bert': _bert_tower}.get(
            str(spec.text_tower), _transformers_tower)
        _LOADED[key] = build(spec)
        return _LOADED[key]
    except ModelUnavailableError:
        raise
    except pickle.UnpicklingError as exc:  # a checkpoint holding objects beyond tensors
        raise ModelUnavailableError(
            'model %s: %s holds Python objects besides tensors, which are never loaded (they '
            'can run code); convert it to a plain state dict' % (spec.name, spec.repo_id)
        ) from exc
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise _explain_load_failure(spec, exc) from exc


def load_text_encoder(spec: ModelSpec) -> TextEncoder:
    """The text tower of ``spec`` (checked first; kept for the next call in this process)."""
    check_text_tower(spec)
    return _load(spec)


def prompt_vectors(spec: ModelSpec, prompts: list[str]) -> np.ndarray:
    """One ensembled unit vector per prompt, ``(len(prompts), D)``."""
    if not prompts:
        return np.zeros((0, spec.embed_dim), dtype=np.float32)
    encoder = load_text_encoder(spec)
    return np.stack([encoder.ensemble(prompt) for prompt in prompts])
