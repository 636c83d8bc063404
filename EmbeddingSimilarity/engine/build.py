"""The one door that turns a :class:`ModelSpec` into a ready :class:`EmbeddingEngine`.

Used by the in-process run, the Dask workers and the benchmarks alike, so the device and
precision and memory-layout rules (``auto`` = the GPU when there is one; bf16 autocast on a CPU
with native bf16, else the model's preferred precision; ``channels_last`` for convolutional
models) are applied in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..models.spec import ModelSpec

if TYPE_CHECKING:
    from .embedding import EmbeddingEngine

DEFAULT_BATCH_SIZE = 32


def load_engine(spec: ModelSpec, device: str = 'auto', precision: str = 'auto',
                batch_size: int = DEFAULT_BATCH_SIZE, layout: str = 'auto') -> EmbeddingEngine:
    """Load ``spec``'s weights and wrap them in an engine on ``device`` at ``precision`` in
    memory ``layout``."""
    from ..models.loaders import build_embedder
    from .embedding import EmbeddingEngine, choose_device, choose_precision

    where = choose_device(device)
    return EmbeddingEngine(build_embedder(spec), where,
                           choose_precision(precision, spec.precision, where), batch_size,
                           layout)
