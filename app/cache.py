"""Results cache: in memory (bounded, least recently used first out) and on disk.

Keys are made from the model file's hash and every parameter, so a changed model never serves
stale results. Disk entries are `.npz` files written to a temporary name and renamed into place
(`os.replace` is atomic), so several worker processes can share the folder safely.

The cache heals itself: an entry that cannot be read (truncated, garbage, an old format) or does
not hold what the caller expects (`expect`: the array names and shapes) is a miss. It is logged,
removed, and recomputed by the caller; it never reaches memory. A write that fails (a full or
read-only disk) removes its partial `.tmp` file, costs speed, never a request, and is logged once
per cache. Temporary files left by a process that died while writing are removed when the cache
is opened, once old enough not to be another worker's write in progress.

The folder is bounded by size (`max_bytes`, `CONVNET_VIS_CACHE_MAX_BYTES` for the filter
patterns): after each write, the entries used least recently (by modification time: a disk hit
touches its file) are removed until the folder is under the bound. Several workers may trim at
once: a file that another one removed first is skipped, and a reader whose file vanished has a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

log = logging.getLogger("convnet_vis.cache")

# name -> shape, with None for a free dimension: {"points": (3000, 2)} or {"indices": (64, None)}.
Expectation = dict[str, tuple[int | None, ...]]
STALE_TEMPORARY_SECONDS = 600


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def matches(arrays: dict[str, np.ndarray], expect: Expectation | None) -> bool:
    if expect is None:
        return True
    if set(arrays) != set(expect):
        return False
    return all(
        arrays[name].ndim == len(shape) and all(want is None or want == got for want, got in zip(shape, arrays[name].shape))
        for name, shape in expect.items()
    )


class ArrayCache:
    def __init__(self, folder: Path, capacity: int = 64, max_bytes: int | None = None) -> None:
        self.folder = Path(folder)
        self.capacity = capacity
        self.max_bytes = max_bytes  # None: the folder is not bounded
        self.removed = 0  # entries removed to stay under max_bytes
        self._memory: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self._write_failure_logged = False
        self._remove_stale_temporaries()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def recall(self, key: str, expect: Expectation | None = None) -> dict[str, np.ndarray] | None:
        """The memory copy only: no disk, cheap enough for the event loop."""
        with self._lock:
            arrays = self._memory.get(key)
            if arrays is not None and not matches(arrays, expect):
                del self._memory[key]
                return None
            if arrays is not None:
                self._memory.move_to_end(key)
            return arrays

    def get(self, key: str, expect: Expectation | None = None) -> dict[str, np.ndarray] | None:
        arrays = self.recall(key, expect)
        if arrays is not None:
            return arrays
        path = self._path(key)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with a file, it is a miss
            self._discard(path, f"unreadable ({type(exc).__name__}: {exc})")
            return None
        if not matches(arrays, expect):
            found = {name: list(values.shape) for name, values in arrays.items()}
            self._discard(path, f"holds {found}, expected {expect}")
            return None
        if self.max_bytes is not None:
            try:
                os.utime(path)  # used now: the last to be trimmed
            except OSError:
                pass
        self._remember(key, arrays)
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        self._remember(key, arrays)
        temporary = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **arrays)
            os.replace(temporary, self._path(key))
            self._trim()
        except OSError as exc:  # a read-only or full disk costs speed, never a failed request
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
            if not self._write_failure_logged:
                self._write_failure_logged = True
                log.warning("cannot write the cache in %s (%s); results are kept in memory only", self.folder, exc)

    def disk_bytes(self) -> int:
        return sum(size for _, size, _ in self._entries())

    def _entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every entry on disk; files that vanish meanwhile are left out."""
        entries = []
        for path in self.folder.glob("*.npz"):
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        return entries

    def _trim(self) -> None:
        if self.max_bytes is None:
            return
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        for _, size, path in entries[:-1]:  # the newest (just written) stays
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
                self.removed += 1
            except FileNotFoundError:
                pass  # another worker removed it first
            total -= size

    def _discard(self, path: Path, why: str) -> None:
        log.warning("cache entry %s is %s: removed, it will be recomputed", path.name, why)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the damaged cache entry %s (%s)", path, exc)

    def _remember(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._memory[key] = arrays
            self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)

    def _remove_stale_temporaries(self) -> None:
        try:
            leftovers = list(self.folder.glob("*.tmp"))
        except OSError:
            return
        for leftover in leftovers:
            try:
                if time.time() - leftover.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                    leftover.unlink()
                    log.info("removed %s, a partial cache write", leftover)
            except OSError:
                pass
