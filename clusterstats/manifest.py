"""Run manifests: what went into a notebook run, and whether it must run again.

A run's *inputs* are the notebook file, its parameters, the data snapshot (every file under
``data/``, plus the vintages recorded in ``data/**/manifest.json``), the package version, the
hash of the package's source code, the key dependency versions and the kernel. Their hash is the
run's *fingerprint*; a run whose manifest says ``status: ok`` with the same fingerprint, and whose
executed notebook is still there unchanged, is skipped (``--force`` redoes it). This is the
incremental-build rule of make/ploomber applied to notebooks (Sandve et al. 2013, rule 1-3).

The manifest ``<name>.manifest.json`` is written last and atomically, after the executed
notebook: it is the commit marker of a run, so an interrupted run leaves no manifest and is redone.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ._paths import PACKAGE_DIR, data_dir
from .provenance import (atomic_write_json, dependency_versions, git_commit, package_version,
                         sha256_bytes, sha256_file)

__all__ = ["data_snapshot", "source_hash", "environment", "fingerprint", "fingerprint_inputs",
           "changed_inputs", "read_manifest",
           "write_manifest", "is_up_to_date", "now_iso", "MANIFEST_SUFFIX"]

MANIFEST_SUFFIX = ".manifest.json"

#: manifest keys (at any depth up to 2) that carry a data vintage worth copying into run manifests
_VINTAGE_HINTS = ("vintage", "update", "retriev", "accessed", "snapshot", "version", "date")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _visible_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


# Hashing the data folder is the costly part of a fingerprint; a file whose size and mtime are
# unchanged is not re-read within one process (a batch computes the snapshot once anyway).
@lru_cache(maxsize=4096)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def _file_sha(path: Path) -> str:
    st = path.stat()
    return _cached_sha256(str(path), st.st_size, st.st_mtime_ns)


def _vintages(doc: Any, depth: int = 0) -> Any:
    """The scalar fields of a data manifest that look like dates/vintages (depth <= 2)."""
    if isinstance(doc, Mapping) and depth <= 2:
        out = {}
        for key, value in doc.items():
            if isinstance(value, (str, int, float)) and any(h in str(key).lower() for h in _VINTAGE_HINTS):
                out[str(key)] = value
            elif isinstance(value, (Mapping, list)):
                sub = _vintages(value, depth + 1)
                if sub:
                    out[str(key)] = sub
        return out
    if isinstance(doc, list) and depth <= 2:
        subs = [_vintages(v, depth + 1) for v in doc]
        return subs if any(subs) else []
    return {}


def data_snapshot(root: str | Path | None = None) -> dict[str, Any]:
    """Hashes of every file under ``data/`` and the vintages of its ``manifest.json`` files.

    Returns ``{"root": "data", "sha256": <hash of all (path, hash) pairs>, "n_files": ...,
    "files": {relpath: sha256}, "manifests": {relpath: {"sha256": ..., "vintages": {...}}}}``.
    Paths are relative to the data folder, so manifests never contain machine paths.
    """
    root = Path(root) if root is not None else data_dir()
    files: dict[str, str] = {}
    manifests: dict[str, Any] = {}
    if root.is_dir():
        for path in _visible_files(root):
            rel = path.relative_to(root).as_posix()
            files[rel] = _file_sha(path)
            if path.name == "manifest.json":
                try:
                    doc = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError) as exc:
                    raise ValueError(f"{path}: data manifest is not valid JSON: {exc}") from exc
                manifests[rel] = {"sha256": files[rel], "vintages": _vintages(doc)}
    combined = sha256_bytes(json.dumps(files, sort_keys=True).encode())
    return {"root": root.name, "sha256": combined, "n_files": len(files), "files": files,
            "manifests": manifests}


def source_hash(package_dir: str | Path = PACKAGE_DIR) -> str:
    """Hash of the package's Python source: any code change makes every notebook run again."""
    package_dir = Path(package_dir)
    parts = {p.relative_to(package_dir).as_posix(): _file_sha(p)
             for p in _visible_files(package_dir) if p.suffix == ".py"}
    return sha256_bytes(json.dumps(parts, sort_keys=True).encode())


def environment() -> dict[str, Any]:
    """Package, dependency, interpreter and git versions recorded in every manifest."""
    return {
        "clusterstats_version": package_version(),
        "clusterstats_source_sha256": source_hash(),
        "dependencies": dependency_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
    }


def fingerprint_inputs(*, notebook_sha256: str, parameters: Mapping[str, Any], data_sha256: str,
                       env: Mapping[str, Any], kernel: str | None) -> dict[str, Any]:
    """Everything that decides a run's outcome. Not the git commit: it moves with unrelated
    commits; the source hash covers the code that matters."""
    return {
        "notebook_sha256": notebook_sha256,
        "parameters": dict(parameters),
        "data_sha256": data_sha256,
        "clusterstats_version": env.get("clusterstats_version"),
        "clusterstats_source_sha256": env.get("clusterstats_source_sha256"),
        "dependencies": env.get("dependencies"),
        "kernel": kernel,
    }


def fingerprint(**inputs: Any) -> str:
    """Hash of :func:`fingerprint_inputs` (same keyword arguments)."""
    key = fingerprint_inputs(**inputs)
    return sha256_bytes(json.dumps(key, sort_keys=True, default=str).encode())


def changed_inputs(manifest: Mapping[str, Any] | None, inputs: Mapping[str, Any]) -> list[str]:
    """Which recorded inputs differ from ``inputs`` (for messages saying why a run reruns)."""
    old = (manifest or {}).get("inputs") or {}
    norm = json.loads(json.dumps(dict(inputs), default=str))
    return sorted(k for k in norm if old.get(k) != norm[k])


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest at ``path``, or None if it is missing or unreadable (treated as never run)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def write_manifest(path: str | Path, manifest: Mapping[str, Any]) -> Path:
    return atomic_write_json(path, dict(manifest))


def is_up_to_date(manifest_path: str | Path, notebook_out: str | Path, fp: str) -> bool:
    """True if the last run at this place succeeded with the same inputs and its output is intact."""
    doc = read_manifest(manifest_path)
    if not doc or doc.get("status") != "ok" or doc.get("fingerprint") != fp:
        return False
    out = Path(notebook_out)
    if not out.is_file():
        return False
    expected = (doc.get("output") or {}).get("sha256")
    return expected is None or sha256_file(out) == expected
