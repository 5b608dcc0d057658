"""Results cache: in memory (bounded, least recently used first out) and on disk.

Keys are made from the model file's hash and every parameter, so a changed model never serves
stale results. Disk entries are `.npz` files written to a temporary name and renamed into place
(`os.replace` is atomic), so several worker processes can share the folder safely.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np


def cache_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


class ArrayCache:
    def __init__(self, folder: Path, capacity: int = 64) -> None:
        self.folder = Path(folder)
        self.capacity = capacity
        self._memory: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError):  # a damaged file is a miss, and will be rewritten
            return None
        self._remember(key, arrays)
        return arrays

    def put(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        self._remember(key, arrays)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **arrays)
            os.replace(temporary, self._path(key))
        except OSError:
            pass  # a read-only or full disk costs speed, never a failed request

    def _remember(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._memory[key] = arrays
            self._memory.move_to_end(key)
            while len(self._memory) > self.capacity:
                self._memory.popitem(last=False)
