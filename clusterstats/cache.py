"""Content-addressed cache of raw Eurostat responses.

Layout under the cache root (env ``CLUSTERSTATS_CACHE``, else ``~/.cache/clusterstats``)::

    objects/<sha256>       the response bytes exactly as received (gzip TSV, SDMX-ML, ...)
    manifest.json          {query id: {sha256, url, retrieved_at, last_update, size, query}}

Why content-addressed: the file name *is* the checksum, so a cached answer can be verified at any
time, identical answers are stored once, and a manifest entry can only point at complete bytes.

Write order (so a failed or partial download never replaces good data):
1. the caller validates the bytes (decompresses and parses them) *before* calling :meth:`put`;
2. the object is written to a temp file and renamed (``provenance.atomic_write_bytes``);
3. only then is the manifest rewritten, again atomically, under a lock file.

Repair: :meth:`Cache.put_many` rewrites an object whose bytes no longer match its name (a
corrupted file is not trusted just because the path exists), and a manifest that is not valid
JSON is moved aside (``manifest.json.invalid-<time>``, nothing is deleted) and started afresh,
so ``get_eurostat(..., refresh=True)`` repairs a damaged cache instead of being blocked by it.

Unlike rOpenGov/eurostat's cache (keyed by download *date*), a query stays served from the cache
until ``refresh=True``: the cache is a vintage pin, not a per-day memo.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .provenance import atomic_open, atomic_write_bytes, atomic_write_json, sha256_bytes, sha256_file

__all__ = ["Cache", "CacheEntry", "Query", "default_cache_dir"]


def default_cache_dir() -> Path:
    env = os.environ.get("CLUSTERSTATS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "clusterstats"


@dataclass(frozen=True)
class Query:
    """A normalised request: what identifies one cached answer."""

    dataset: str
    key: str = ""
    start: str | None = None
    end: str | None = None
    format: str = "TSV"

    @property
    def id(self) -> str:
        # readable on purpose: people grep the manifest for their dataset
        return (f"{self.format}:{self.dataset.lower()}/{self.key}"
                f"?start={self.start or ''}&end={self.end or ''}")

    def describe(self) -> str:
        period = f"{self.start or '…'} to {self.end or '…'}" if (self.start or self.end) else "all periods"
        return f"dataset {self.dataset!r}, key {self.key or '(all)'!r}, {period} [{self.format}]"


@dataclass(frozen=True)
class CacheEntry:
    sha256: str
    url: str
    retrieved_at: str
    last_update: str | None
    size: int
    path: Path

    def read(self) -> bytes:
        data = self.path.read_bytes()
        if sha256_bytes(data) != self.sha256:
            raise OSError(f"cache object {self.path} does not match its sha256; delete it and refresh")
        return data

    def verified_path(self) -> Path:
        """The object's path after checking its sha256 (streamed: the file is not held in memory)."""
        if sha256_file(self.path) != self.sha256:
            raise OSError(f"cache object {self.path} does not match its sha256; delete it and refresh")
        return self.path


def _atomic_copy(src: Path, dst: Path) -> None:
    """Copy a file in via a temp file in the target folder and a rename."""
    with atomic_open(dst) as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 20)


class Cache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def _object_path(self, sha: str) -> Path:
        return self.root / "objects" / sha

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise OSError(f"cache manifest {self.manifest_path} is not valid JSON ({exc}); "
                          "refresh=True rebuilds it (the bad file is kept beside it)") from exc
        if not isinstance(data, dict):
            raise OSError(f"cache manifest {self.manifest_path} is not a JSON object; "
                          "refresh=True rebuilds it (the bad file is kept beside it)")
        return data

    def _load_for_update(self) -> dict[str, Any]:
        """The manifest, or {} after moving an invalid one aside (kept, never deleted)."""
        try:
            return self._load()
        except OSError:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            aside = self.manifest_path.with_name(f"{self.manifest_path.name}.invalid-{stamp}")
            os.replace(self.manifest_path, aside)
            return {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Two notebooks filling the same cache must not lose each other's manifest entries.
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get(self, query: Query) -> CacheEntry | None:
        """The cached entry for ``query``, or None (also when its object file has gone)."""
        record = self._load().get(query.id)
        if record is None:
            return None
        path = self._object_path(record["sha256"])
        if not path.exists():
            return None
        return CacheEntry(record["sha256"], record["url"], record["retrieved_at"],
                          record.get("last_update"), record["size"], path)

    def put(self, query: Query, data: bytes, *, url: str, retrieved_at: str,
            last_update: str | None = None) -> CacheEntry:
        """Store bytes the caller has already validated; object first, then the manifest."""
        return self.put_many([(query, data, url, last_update)], retrieved_at=retrieved_at)[0]

    def put_many(self, items: list[tuple[Query, bytes | Path, str, str | None]], *,
                 retrieved_at: str) -> list[CacheEntry]:
        """Store several answers (query, bytes or a file, url, last_update), one manifest rewrite."""
        entries = []
        for query, data, url, last_update in items:
            if isinstance(data, Path):
                sha, size = sha256_file(data), data.stat().st_size
            else:
                sha, size = sha256_bytes(data), len(data)
            path = self._object_path(sha)
            # an existing object is reused only if its bytes still match its name
            if not path.exists() or sha256_file(path) != sha:
                if isinstance(data, Path):
                    _atomic_copy(data, path)
                else:
                    atomic_write_bytes(path, data)
            entries.append((query, CacheEntry(sha, url, retrieved_at, last_update, size, path)))
        with self._locked():
            manifest = self._load_for_update()
            for query, e in entries:
                manifest[query.id] = {
                    "sha256": e.sha256, "url": e.url, "retrieved_at": e.retrieved_at,
                    "last_update": e.last_update, "size": e.size,
                    "query": {"dataset": query.dataset, "key": query.key, "start": query.start,
                              "end": query.end, "format": query.format},
                }
            atomic_write_json(self.manifest_path, manifest)
        return [e for _, e in entries]

    def entries(self) -> dict[str, dict[str, Any]]:
        """The manifest as a dict (query id -> record), for listing what is cached."""
        return self._load()
