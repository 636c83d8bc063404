"""The batch engine: uint8 tiles in, pooled embeddings out, with the device kept busy.

Tiles arrive as uint8 and are converted on the device (cast, resize, normalise), so the CPU only
copies bytes. On CUDA the bytes go through pinned buffers with non-blocking copies, and each
batch's result is fetched only after the next batch has been launched. If a batch does not fit in
device memory, the batch is halved and the run goes on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable

import numpy as np
import torch

from ..models.loaders import Embedder
from ..models.spec import LAYOUTS, ModelSpec
from ..progress import NullProgress, Progress

logger = logging.getLogger(__name__)

PRECISIONS = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
CONVOLUTIONAL_SHARE = 0.5
"""A model whose convolution weights hold at least this share of its parameters is
convolutional: ``channels_last`` pays off for it (2.1x for EfficientNet-Lite0 on this CPU), not
for a ViT, whose only convolution is the patch embedding."""


def choose_device(name: str = 'auto') -> torch.device:
    """``auto`` = the first CUDA device when there is one, else the CPU."""
    from ..errors import InputError

    name = (name or 'auto').lower()
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise InputError('device %s was requested but no CUDA GPU is visible; use --device cpu '
                         'or auto' % name)
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise InputError('unknown device %r; use auto, cpu or cuda[:N]' % name) from exc


def cpu_flags(path: str = '/proc/cpuinfo') -> set[str]:
    """The CPU's feature flags (empty where there is no ``/proc/cpuinfo``)."""
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            for line in handle:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """True when the CPU computes in bf16 natively (AVX512-BF16 or AMX-BF16).

    Without them oneDNN emulates bf16, which is slower than fp32. Where ``/proc/cpuinfo`` is
    missing, torch's own oneDNN check decides.
    """
    flags = cpu_flags() if flags is None else flags
    if flags:
        return bool(flags & {'avx512_bf16', 'amx_bf16'})
    return cpu_supports_bf16()


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_precision(requested: str, preferred: str, device: torch.device,
                     native_bf16: bool | None = None) -> str:
    """The precision to run at: the user's choice, else the fastest that keeps retrieval parity.

    ``auto`` on the CPU is bf16 autocast where the CPU has native bf16 (top-10 agreement with
    fp32 and tissue-vs-glass AUC are checked in tests/test_precision.py), else fp32; on a GPU it
    is the model's preferred precision. fp16 autocast is slow on a CPU, so there it becomes
    bf16 or fp32.
    """
    native = False
    if device.type == 'cpu':
        native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    choice = requested
    if requested in (None, '', 'auto'):
        choice = ('bf16' if native else 'fp32') if device.type == 'cpu' else preferred
    if choice not in PRECISIONS:
        from ..errors import InputError

        raise InputError('unknown precision %r; use auto, fp32, fp16 or bf16' % choice)
    if device.type == 'cpu' and choice != 'fp32':
        return 'bf16' if native or cpu_supports_bf16() else 'fp32'
    return choice


def is_convolutional(model: torch.nn.Module) -> bool:
    """True when convolutions hold most of ``model``'s weights (see ``CONVOLUTIONAL_SHARE``)."""
    total = conv = 0
    for module in model.modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        total += own
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            conv += own
    return bool(total) and conv / total >= CONVOLUTIONAL_SHARE


def choose_layout(requested: str, model: torch.nn.Module) -> str:
    """``channels_last`` for convolutional models, ``contiguous`` otherwise, unless asked."""
    requested = (requested or 'auto').lower()
    if requested not in LAYOUTS:
        from ..errors import InputError

        raise InputError('unknown layout %r; use %s' % (requested, ', '.join(LAYOUTS)))
    if requested != 'auto':
        return requested
    return 'channels_last' if is_convolutional(model) else 'contiguous'


def is_out_of_memory(exc: BaseException) -> bool:
    oom = getattr(torch.cuda, 'OutOfMemoryError', None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and 'out of memory' in str(exc).lower()


def preprocess(tiles: torch.Tensor, spec: ModelSpec, channels_last: bool = False) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 (on any device) -> ``(N, 3, S, S)`` float32 as ``spec``'s model
    expects: resized to its input size and normalised with its mean and std."""
    x = tiles.permute(0, 3, 1, 2).float()
    size = spec.input_size
    if x.shape[-1] != size or x.shape[-2] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode='bilinear',
                                            antialias=True, align_corners=False)
    mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1) * 255.0
    x = (x - mean) / std
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class EmbeddingEngine:
    """Runs an :class:`Embedder` over uint8 tile batches on one device."""

    def __init__(self, embedder: Embedder, device: torch.device, precision: str = 'fp32',
                 batch_size: int = 32, layout: str = 'auto') -> None:
        self.spec = embedder.spec
        self.device = device
        self.precision = precision
        self.batch_size = max(1, int(batch_size))
        self.model = embedder.to(device).eval()
        self.layout = choose_layout(layout, self.model)
        if self.layout == 'channels_last':
            self.model = self.model.to(memory_format=torch.channels_last)
        self.back_offs = 0

    def describe(self) -> dict:
        """Where and how the batches ran, for the cache's provenance."""
        ran = {'device': self.device.type, 'precision': self.precision, 'layout': self.layout}
        if self.back_offs:
            ran['batch_size_after_back_off'] = self.batch_size
        return ran

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == 'fp32':
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.precision])

    @torch.inference_mode()
    def _forward(self, tiles: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            x = preprocess(tiles, self.spec, channels_last=self.layout == 'channels_last')
            return self.model(x).float()

    def _forward_with_back_off(self, tiles: torch.Tensor) -> torch.Tensor:
        """Forward ``tiles`` in chunks of ``batch_size``, halving it on out-of-memory."""
        outputs = []
        start = 0
        while start < len(tiles):
            chunk = tiles[start:start + self.batch_size]
            try:
                outputs.append(self._forward(chunk))
            except Exception as exc:
                if not is_out_of_memory(exc) or self.batch_size == 1:
                    raise
                self.batch_size = max(1, self.batch_size // 2)
                self.back_offs += 1
                logger.warning('out of %s memory with a batch of %d tiles; continuing with '
                               'batches of %d', self.device.type, len(chunk), self.batch_size)
                if self.device.type == 'cuda':
                    torch.cuda.empty_cache()
                continue
            start += len(chunk)
        return torch.cat(outputs)

    def embed(self, tiles: np.ndarray) -> np.ndarray:
        """Embeddings ``(N, D)`` float32 for uint8 tiles ``(N, H, W, 3)``."""
        tensor = torch.from_numpy(np.ascontiguousarray(tiles))
        return self._forward_with_back_off(tensor.to(self.device)).cpu().numpy()

    def run(self, batches: Iterable[tuple[np.ndarray, np.ndarray]],
            store: Callable[[np.ndarray, np.ndarray], None],
            progress: Progress | None = None) -> None:
        """Embed every ``(cells, tiles)`` batch and hand ``(cells, embeddings)`` to ``store``.

        On CUDA the next batch is prepared and launched before the previous result is fetched,
        so reading and copying overlap the forward pass.
        """
        progress = progress or NullProgress()
        if self.device.type != 'cuda':
            for cells, tiles in batches:
                store(cells, self.embed(tiles))
                progress.advance(len(cells))
            return
        pinned: list[torch.Tensor] = []
        in_flight: tuple | None = None
        for index, (cells, tiles) in enumerate(batches):
            slot = index % 2
            shape = (max(self.batch_size, len(tiles)),) + tuple(tiles.shape[1:])
            if len(pinned) <= slot or pinned[slot].shape[0] < len(tiles) or \
                    tuple(pinned[slot].shape[1:]) != shape[1:]:
                buffer = torch.empty(shape, dtype=torch.uint8, pin_memory=True)
                if len(pinned) <= slot:
                    pinned.append(buffer)
                else:
                    pinned[slot] = buffer
            host = pinned[slot][:len(tiles)]
            host.numpy()[...] = tiles
            device_tiles = host.to(self.device, non_blocking=True)
            result = self._forward_with_back_off(device_tiles).to('cpu', non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
            if in_flight is not None:
                self._finish(in_flight, store, progress)
            in_flight = (cells, result, ready)
        if in_flight is not None:
            self._finish(in_flight, store, progress)

    @staticmethod
    def _finish(in_flight: tuple, store: Callable[[np.ndarray, np.ndarray], None],
                progress: Progress) -> None:
        cells, result, ready = in_flight
        ready.synchronize()
        store(cells, result.numpy())
        progress.advance(len(cells))
