"""Which model embeds, and how: the engine's options and the scale-out (Dask) options."""

from __future__ import annotations

import dataclasses

from ..models import BUNDLED_MODEL
from .build import DEFAULT_BATCH_SIZE


@dataclasses.dataclass
class EngineOptions:
    """The model (a registry name or ``hf:``/``timm:``/``local:`` spec) and how it runs."""

    model: str = BUNDLED_MODEL
    pooling: str = ''
    """'' = the model's own pooling rule."""
    trust_remote_code: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str = 'auto'
    precision: str = 'auto'
    layout: str = 'auto'
    """Memory layout of the model's input: auto, channels_last or contiguous."""
    reader_threads: int = 2


@dataclasses.dataclass
class ScaleOut:
    """Dask: '' = in-process, 'local' = a local cluster, else a scheduler address."""

    scheduler: str = ''
    num_workers: int = -1
    threads_per_worker: int = 1
