"""Our model names for the encoder names other tools write into their feature files.

Sources: TRIDENT's ``enc_name`` of each patch encoder (``trident/patch_encoder_models/load.py``),
STAMP's ``ExtractorName`` (``src/stamp/preprocessing/config.py``) and LazySlide's model keys
(its feature tables are called ``{model}_{tile_key}``). A name may stand for several of our
records that differ in pooling (TRIDENT's ``virchow2`` is the 2560-d class token + patch mean by
default, the 1280-d class token with ``return_cls=True``): the embedding size picks one.
"""

from __future__ import annotations

TRIDENT_NAMES: dict[str, tuple[str, ...]] = {
    'uni_v1': ('UNI',), 'uni_v2': ('UNI2-h',), 'gigapath': ('Prov-GigaPath',),
    'virchow': ('Virchow',), 'virchow2': ('Virchow2', 'Virchow2-cls'),
    'hoptimus0': ('H-optimus-0',), 'hoptimus1': ('H-optimus-1',), 'h0-mini': ('H0-mini',),
    'phikon': ('Phikon',), 'phikon_v2': ('Phikon-v2',), 'hibou_l': ('Hibou-L',),
    'midnight12k': ('Midnight',), 'openmidnight': ('OpenMidnight',), 'gpfm': ('GPFM',),
    'conch_v1': ('CONCH',), 'conch_v15': ('CONCH-v1.5',), 'musk': ('MUSK',), 'keep': ('KEEP',),
    'ctranspath': ('CTransPath-CHIEF',), 'resnet50': ('ResNet50-trunc',),
    'lunit-vits8': ('Lunit-DINO-ViT-S8',), 'genbio-pathfm': ('GenBio-PathFM',),
}
STAMP_NAMES: dict[str, tuple[str, ...]] = {
    'uni': ('UNI',), 'uni2': ('UNI2-h',), 'gigapath': ('Prov-GigaPath',),
    'virchow': ('Virchow',), 'virchow2': ('Virchow2-cls', 'Virchow2'),
    'h-optimus-0': ('H-optimus-0',), 'h-optimus-1': ('H-optimus-1',), 'conch': ('CONCH',),
    'conch1_5': ('CONCH-v1.5',), 'chief-ctranspath': ('CTransPath-CHIEF',), 'musk': ('MUSK',),
    'keep': ('KEEP',), 'plip': ('PLIP',),
}
LAZYSLIDE_NAMES: dict[str, tuple[str, ...]] = {
    'uni': ('UNI',), 'uni2': ('UNI2-h',), 'gigapath': ('Prov-GigaPath',),
    'virchow': ('Virchow',), 'virchow2': ('Virchow2',), 'h-optimus-0': ('H-optimus-0',),
    'h-optimus-1': ('H-optimus-1',), 'h0-mini': ('H0-mini',), 'phikon': ('Phikon',),
    'phikonv2': ('Phikon-v2',), 'hibou-b': ('Hibou-B',), 'hibou-l': ('Hibou-L',),
    'midnight': ('Midnight',), 'conch': ('CONCH',), 'conch_v1.5': ('CONCH-v1.5',),
    'plip': ('PLIP',), 'musk': ('MUSK',), 'ctranspath': ('CTransPath-CHIEF',),
}
NAMES = {'TRIDENT': TRIDENT_NAMES, 'STAMP': STAMP_NAMES, 'LazySlide': LAZYSLIDE_NAMES}
OURS_TO_TRIDENT = {ours[0]: name for name, ours in TRIDENT_NAMES.items()}
OURS_TO_TRIDENT['Virchow2-cls'] = 'virchow2'
OURS_TO_STAMP = {ours[0]: name for name, ours in STAMP_NAMES.items()}
OURS_TO_STAMP['Virchow2'] = 'virchow2'


def our_models(tool: str, encoder: str) -> tuple[str, ...]:
    """Our model names that ``tool``'s encoder name may stand for (empty when unknown; a name
    that is already one of ours stands for itself)."""
    return NAMES.get(tool, {}).get(encoder.strip().lower(), ()) or (encoder.strip(),)


def their_name(tool: str, model: str) -> str:
    """The encoder name ``tool`` uses for our ``model`` (our name when it has none)."""
    table = {'TRIDENT': OURS_TO_TRIDENT, 'STAMP': OURS_TO_STAMP}.get(tool, {})
    return table.get(model, model)
