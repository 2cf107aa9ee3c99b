"""Deterministic fastText supervised training.

The fastText build we install (`fasttext-numpy2-wheel` 0.9.2) allocates the input embedding matrix with an
uninitialised aligned buffer, and `DenseMatrix::uniform` with `thread=1` fills only the first tenth of it
(fastText seeds one block of m*n/10 values per thread). Upstream fastText's `std::vector` zero-fills the
rest; this build leaves whatever the heap held there. In a fresh process the buffer is a new mmap (zeros)
and training works; in a long-lived process (a test suite, a curation worker) it may be recycled memory,
and training reads garbage: "Encountered NaN", or a different model from the same seed. Reproduce with
`MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_PERTURB_=1` (fills malloc'd memory with 0xfe: NaN every time).

We train with one thread (hogwild threads are not reproducible) and, on glibc, with malloc's perturb
byte set for the duration so that every allocation fastText makes is zero-filled, as upstream's would be.
The model then depends only on the data and the seed: the same bytes in any process (tested).
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infir.config import ConfigError

_M_PERTURB = -6  # glibc mallopt: fill malloc'd memory with (byte ^ 0xff), freed memory with byte
_LOCK = threading.Lock()  # perturb is process-wide: one training at a time owns it


def _glibc_mallopt() -> Any | None:
    try:
        libc = ctypes.CDLL(None)
        return libc.mallopt if hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


@contextlib.contextmanager
def zeroed_allocations() -> Iterator[bool]:
    """Within the block, glibc's malloc returns zero-filled memory. Yields False where that is not
    available (not glibc): the fresh-mmap case still zero-fills the large matrix there."""
    mallopt = _glibc_mallopt()
    with _LOCK:
        if mallopt is None or mallopt(_M_PERTURB, 0xFF) != 1:
            yield False
            return
        try:
            yield True
        finally:
            mallopt(_M_PERTURB, 0)


def train_supervised(path: str | Path, seed: int = 0, **params: Any) -> Any:
    """`fasttext.train_supervised` on one thread with zero-filled allocations: reproducible per seed.

    A NaN is then a property of the data and settings (too high a learning rate for the corpus), not of
    the heap, so it is reported instead of retried with another seed.
    """
    import fasttext

    with zeroed_allocations():
        try:
            return fasttext.train_supervised(str(path), seed=seed, thread=1, verbose=0, **params)
        except RuntimeError as exc:
            if "NaN" not in str(exc):
                raise
            raise ConfigError(
                "train_recall.lr",
                f"fastText diverged (NaN) training on {path} with {params}; lower lr or raise dim",
            ) from exc
