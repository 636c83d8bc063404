"""Progress for two audiences: the Girder job panel and a person at a terminal.

Girder (slicer_cli_web) shows the job's stdout, and understands Slicer execution-model
``<filter-progress>`` tags, so when stdout is not a terminal each stage prints
``<filter-start>`` / ``<filter-progress>`` / ``<filter-end>`` lines. On a terminal a tqdm bar on
stderr is friendlier, so the tags are left out there.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import IO

from .terminal import LOST, lost

_PROGRESS_STEP = 0.02  # fraction between two printed progress tags


class Progress:
    """Reports the progress of one named stage at a time."""

    def __init__(self, tags: bool | None = None, bar: bool | None = None,
                 stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stdout
        self.tags = (not _isatty(self._stream)) if tags is None else tags
        self.bar = _isatty(sys.stderr) if bar is None else bar
        self._stage: str | None = None
        self._total = 0
        self._done = 0
        self._last_tag = -1.0
        self._started = 0.0
        self._tqdm = None
        self.timings: dict[str, float] = {}

    def _emit(self, text: str) -> None:
        """One tag line; a stdout closed by its reader (``| head``) or full ends the tags, not
        the run."""
        try:
            print(text, file=self._stream, flush=True)
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.errno not in LOST:
                raise
            self.tags = False
            with contextlib.suppress(OSError, ValueError):  # a test's buffer has no descriptor
                lost(self._stream.fileno())

    def start(self, stage: str, total: int = 0, comment: str = '') -> None:
        """Begin a stage of ``total`` steps (0 for a stage without steps)."""
        self.end()
        self._stage, self._total, self._done = stage, max(0, int(total)), 0
        self._last_tag = -1.0
        self._started = time.perf_counter()
        if self.tags:
            self._emit('<filter-start><filter-name>%s</filter-name><filter-comment>%s'
                       '</filter-comment></filter-start>' % (stage, comment or stage))
        if self.bar and self._total:
            from tqdm import tqdm

            self._tqdm = tqdm(total=self._total, desc=stage, unit='tile', file=sys.stderr,
                              dynamic_ncols=True, leave=False)

    def advance(self, steps: int = 1) -> None:
        if self._stage is None:
            return
        self._done += steps
        if self._tqdm is not None:
            self._tqdm.update(steps)
        if self.tags and self._total:
            fraction = min(1.0, self._done / self._total)
            if fraction - self._last_tag >= _PROGRESS_STEP or fraction >= 1.0 > self._last_tag:
                self._last_tag = fraction
                self._emit('<filter-progress>%.4f</filter-progress>' % fraction)

    def end(self) -> None:
        if self._stage is None:
            return
        elapsed = time.perf_counter() - self._started
        self.timings[self._stage] = self.timings.get(self._stage, 0.0) + elapsed
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        if self.tags:
            self._emit('<filter-end><filter-name>%s</filter-name><filter-time>%.3f'
                       '</filter-time></filter-end>' % (self._stage, elapsed))
        self._stage = None


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (OSError, ValueError):
        return False


class NullProgress(Progress):
    """Progress that reports nothing (library use, tests)."""

    def __init__(self) -> None:
        super().__init__(tags=False, bar=False)
