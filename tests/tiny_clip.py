"""A small CLIP made offline for the text-query tests: random weights saved with transformers'
``save_pretrained`` (and an open_clip one) into a Hugging Face cache layout, with a real BPE
tokenizer built from the vocabulary file that ships inside open_clip.

``python tests/tiny_clip.py CACHE`` fills CACHE; the tests point ``HF_HUB_CACHE`` at it.
"""

from __future__ import annotations

import gzip
import json
import os
import sys

COMMIT = 'e' * 40
CLIP_REPO = 'testorg/tiny-clip'
QUILT_REPO = 'testorg/tiny-quilt'
PROJECTION = 24
OPEN_CLIP_DIM = 16


def snapshot(cache: str, repo: str) -> str:
    base = os.path.join(cache, 'models--' + repo.replace('/', '--'))
    path = os.path.join(base, 'snapshots', COMMIT)
    os.makedirs(path, exist_ok=True)
    os.makedirs(os.path.join(base, 'refs'), exist_ok=True)
    with open(os.path.join(base, 'refs', 'main'), 'w') as handle:
        handle.write(COMMIT)
    return path


def write_tokenizer(folder: str) -> None:
    """CLIP's tokenizer files (vocab.json + merges.txt) from open_clip's shipped BPE merges:
    the same vocabulary as OpenAI CLIP's (open_clip's SimpleTokenizer builds it the same way)."""
    from open_clip.tokenizer import SimpleTokenizer, default_bpe
    from transformers import CLIPTokenizer

    with gzip.open(default_bpe()) as handle:
        merges = handle.read().decode('utf-8').split('\n')[1:49152 - 256 - 2 + 1]
    names = {'<start_of_text>': '<|startoftext|>', '<end_of_text>': '<|endoftext|>'}
    vocab = {names.get(key, key): value for key, value in SimpleTokenizer().encoder.items()
             if value < 49408}
    with open(os.path.join(folder, 'vocab.json'), 'w') as handle:
        json.dump(vocab, handle)
    with open(os.path.join(folder, 'merges.txt'), 'w') as handle:
        handle.write('#version: 0.2\n' + '\n'.join(merges) + '\n')
    CLIPTokenizer(os.path.join(folder, 'vocab.json'), os.path.join(folder, 'merges.txt'),
                  model_max_length=77).save_pretrained(folder)


def build(cache: str) -> None:
    import open_clip
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    clip = CLIPModel(CLIPConfig(
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=2, patch_size=32, image_size=224),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=77),
        projection_dim=PROJECTION)).eval()
    folder = snapshot(cache, CLIP_REPO)
    clip.save_pretrained(folder)
    write_tokenizer(folder)
    cfg = {'embed_dim': OPEN_CLIP_DIM,
           'vision_cfg': {'image_size': 224, 'layers': 2, 'width': 64, 'patch_size': 32,
                          'head_width': 32},
           'text_cfg': {'context_length': 77, 'vocab_size': 49408, 'width': 32, 'heads': 2,
                        'layers': 1}}
    folder = snapshot(cache, QUILT_REPO)
    with open(os.path.join(folder, 'open_clip_config.json'), 'w') as handle:
        json.dump({'model_cfg': cfg, 'preprocess_cfg': {}}, handle)
    torch.save(open_clip.CLIP(**cfg).state_dict(),
               os.path.join(folder, 'open_clip_pytorch_model.bin'))


if __name__ == '__main__':
    build(sys.argv[1])
