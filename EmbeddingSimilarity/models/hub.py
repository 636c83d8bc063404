"""The Hugging Face hub as this tool sees it, before any download starts.

Three questions, each answered quickly and without the hub libraries' retry loops:

* is the hub reachable? Asked once per process, with a bounded wait
  (``EMBEDDING_SIMILARITY_HUB_TIMEOUT`` seconds, default 5), so an unreachable hub costs seconds
  and one line instead of a minute of retries;
* where is a repository cached? Cache folder names keep the case of the id the cache was filled
  with (``models--MahmoodLab--uni`` from UNI's card, ``models--MahmoodLab--UNI`` from ours), while
  the hub ignores case, so a snapshot is found whatever the case;
* does the cached config agree with the record? The mean/std and input size a cached
  ``config.json`` (timm ``pretrained_cfg``) or ``preprocessor_config.json`` (transformers) states
  are the model's own; a record that disagrees is a warning at run time, and the model's
  normalisation wins.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
from collections.abc import Iterator

from ..errors import InputError, ModelUnavailableError
from .spec import ModelSpec

TIMEOUT_ENV = 'EMBEDDING_SIMILARITY_HUB_TIMEOUT'
DEFAULT_TIMEOUT_S = 5.0
TOLERANCE = 1e-4

logger = logging.getLogger(__name__)


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def cache_dir() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def timeout_s() -> float:
    """The wait allowed for the reachability check, from ``EMBEDDING_SIMILARITY_HUB_TIMEOUT``."""
    text = os.environ.get(TIMEOUT_ENV, '').strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise InputError('%s=%r is not a number of seconds in (0, 600]' % (TIMEOUT_ENV, text))
    return value


@functools.cache
def unreachable_reason() -> str | None:
    """None when the hub endpoint answers HTTP at all (any status), else why it does not."""
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    wait = timeout_s()
    request = urllib.request.Request(constants.ENDPOINT, method='HEAD')
    try:
        with urllib.request.urlopen(request, timeout=wait):
            pass
    except urllib.error.HTTPError:
        return None  # it answered
    except TimeoutError:
        return 'no answer from %s within %g s' % (constants.ENDPOINT, wait)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, 'reason', exc)
        if isinstance(reason, TimeoutError):
            return 'no answer from %s within %g s' % (constants.ENDPOINT, wait)
        return '%s: %s' % (constants.ENDPOINT, str(reason).strip() or type(reason).__name__)
    return None


def go_offline() -> None:
    """Make every hub call in this process read the cache only (no retries, no waits)."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    os.environ['HF_HUB_OFFLINE'] = '1'


def _cached(repo_id: str, filename: str, revision: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, revision=revision)
    return found if isinstance(found, str) else None


def cached_repo_id(repo_id: str, filename: str = 'config.json',
                   revision: str | None = None) -> str | None:
    """The spelling of ``repo_id`` under which ``filename`` is cached, whatever its case."""
    if _cached(repo_id, filename, revision):
        return repo_id
    folder = 'models--' + repo_id.replace('/', '--')
    try:
        names = os.listdir(cache_dir())
    except OSError:
        return None
    for name in sorted(names):
        if name.lower() == folder.lower() and name != folder and name.count('--') == 2:
            spelling = '/'.join(name.split('--')[1:])
            if _cached(spelling, filename, revision):
                return spelling
    return None


def cached_file(repo_id: str, filename: str, revision: str | None = None) -> str | None:
    spelling = cached_repo_id(repo_id, filename, revision)
    return _cached(spelling, filename, revision) if spelling else None


def fill_hint(repo_id: str, gated: bool) -> str:
    text = ('fill the cache on a machine that can reach the hub (EmbeddingSimilarity '
            '--download-model MODEL) and point HF_HOME (or HF_HUB_CACHE) at it')
    if gated:
        text = ('accept its licence at https://huggingface.co/%s and set HF_TOKEN, or %s'
                % (repo_id, text))
    return text


def prepare(name: str, repo_id: str, revision: str | None = None, filename: str = 'config.json',
            gated: bool = False) -> str:
    """The repository id to load ``name`` from (the cached spelling where there is one).

    Fails at once, with one line, when the model cannot be had: offline and not cached, or the
    hub unreachable and not cached. With the hub unreachable and the model cached, the process
    goes offline so the hub libraries read the cache without retrying.
    """
    spelling = cached_repo_id(repo_id, filename, revision)
    if offline():
        if spelling is None:
            raise ModelUnavailableError(
                'model %s: %s is not in the Hugging Face cache (%s) and HF_HUB_OFFLINE is set; %s'
                % (name, repo_id, cache_dir(), fill_hint(repo_id, gated)))
        return spelling
    reason = unreachable_reason()
    if reason is None:
        return spelling or repo_id
    if spelling is not None:
        logger.warning('the Hugging Face hub cannot be reached (%s); using the cached %s',
                       reason, spelling)
        go_offline()
        return spelling
    raise ModelUnavailableError(
        'model %s: the Hugging Face hub cannot be reached from this machine (%s; %s sets the '
        'wait) and %s is not in the Hugging Face cache (%s); %s, or set HF_HUB_OFFLINE=1'
        % (name, reason, TIMEOUT_ENV, repo_id, cache_dir(), fill_hint(repo_id, gated)))


# --- the cached config against the record ------------------------------------------------

def _read(path: str | None) -> dict:
    if not path:
        return {}
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _side(value: object) -> int | None:
    if isinstance(value, dict):
        value = value.get('height') or value.get('shortest_edge')
    if isinstance(value, (list, tuple)) and value:
        value = value[-1]
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def stated_facts(spec: ModelSpec) -> dict:
    """mean, std and input size as the cached hub config states them (only what it states)."""
    if spec.source not in ('timm', 'transformers') or not spec.repo_id or spec.weights_file:
        return {}
    facts: dict = {}
    if spec.source == 'timm':
        config = _read(cached_file(spec.repo_id, 'config.json', spec.revision))
        cfg = config.get('pretrained_cfg') or {}
        mean, std, size = cfg.get('mean'), cfg.get('std'), _side(cfg.get('input_size'))
    else:
        cfg = _read(cached_file(spec.repo_id, 'preprocessor_config.json', spec.revision))
        mean, std = cfg.get('image_mean'), cfg.get('image_std')
        size = _side(cfg.get('crop_size')) or _side(cfg.get('size'))
    if isinstance(mean, (list, tuple)) and len(mean) == 3:
        facts['mean'] = tuple(float(v) for v in mean)
    if isinstance(std, (list, tuple)) and len(std) == 3:
        facts['std'] = tuple(float(v) for v in std)
    if size:
        facts['input_size'] = size
    return facts


def expected_config_size(spec: ModelSpec) -> int:
    """The input size the hub config should state: the built size where the record builds the
    network larger than the tiles it is fed (e.g. kaiko ViT-L/14: built at 518, fed 224)."""
    return int(spec.architecture_kwargs.get('img_size') or spec.input_size)


def mismatches(spec: ModelSpec, facts: dict) -> list[str]:
    """How the record differs from what the model's own config states."""
    found = []
    for key in ('mean', 'std'):
        if key in facts and any(abs(a - b) > TOLERANCE
                                for a, b in zip(facts[key], getattr(spec, key), strict=True)):
            found.append('%s %s (record) != %s (config)' % (
                key, list(getattr(spec, key)), list(facts[key])))
    if 'input_size' in facts and facts['input_size'] != expected_config_size(spec):
        found.append('input size %d (record) != %d (config)' % (
            expected_config_size(spec), facts['input_size']))
    return found


def reconcile(spec: ModelSpec) -> ModelSpec:
    """The record, with mean/std taken from the cached hub config where it states them.

    A disagreement is logged as a warning: the model's own statement is the primary source.
    """
    facts = stated_facts(spec)
    problems = mismatches(spec, facts)
    if not problems:
        return spec
    if spec.config_norm_note:
        logger.info('model %s: the cached hub config of %s disagrees with the record (%s); '
                    'keeping the record: %s', spec.name, spec.repo_id, '; '.join(problems),
                    spec.config_norm_note)
        return spec
    logger.warning('model %s: the cached hub config of %s disagrees with the record: %s; '
                   'using the config\'s normalisation', spec.name, spec.repo_id,
                   '; '.join(problems))
    return spec.with_overrides(**{k: facts[k] for k in ('mean', 'std') if k in facts})


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers at error level, without progress bars, while a model loads: its load
    report (a table of the weights a tower skips, expected for the image or text half of a CLIP
    checkpoint) and config notes are warnings that would fill every job log; a real mismatch
    still raises."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    bar = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()  # "Loading weights" bars, in a job log
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bar:
            transformers_logging.enable_progress_bar()
