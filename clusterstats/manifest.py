"""Run manifests: what went into a notebook run, and whether it must run again.

A run's *inputs* are the notebook file, its parameters, the data files the run actually read
(the notebook records them: :meth:`clusterstats.context.RunContext.finish` glues ``inputs`` with
their sha256; a notebook that records none depends on the whole data snapshot, every file under
``data/``), the package version, the hash of the package's source code, the key dependency
versions and the kernel. Their hash is the run's *fingerprint*. A run is skipped only when its
manifest says ``status: ok`` with the same fingerprint *and* every output the manifest lists
(the executed notebook, the figures and rows the notebook glued as ``outputs``) still exists with
the recorded sha256 (:func:`staleness`); otherwise it reruns and its new manifest says why
(``reason``: the changed input file or the missing output, by name). ``--force`` redoes it. This is the
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
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ._paths import PACKAGE_DIR, data_dir, repo_root
from .provenance import (atomic_write_json, dependency_versions, git_commit, package_version,
                         sha256_bytes, sha256_file)

__all__ = ["data_snapshot", "source_hash", "environment", "fingerprint", "fingerprint_inputs",
           "changed_inputs", "read_manifest",
           "write_manifest", "is_up_to_date", "now_iso", "MANIFEST_SUFFIX", "display_path",
           "resolve_recorded", "inputs_sha256", "Staleness", "staleness", "run_manifest"]

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


# ---------------------------------------------------------------------------------------------
# paths in manifests, the run manifest, and whether a run is really up to date
# ---------------------------------------------------------------------------------------------
def display_path(path: str | Path) -> str:
    """``path`` relative to the repository root when inside it (manifests carry no machine paths
    for files of the repository), else as given."""
    path = Path(path)
    try:
        return path.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        return path.as_posix()


def resolve_recorded(path: str, base: Path | None = None) -> Path:
    """The file a manifest entry names: relative entries are taken from ``base`` (default the
    repository root), absolute ones as they are."""
    p = Path(path)
    return p if p.is_absolute() else (base or repo_root()) / p


def inputs_sha256(inputs: Mapping[str, str]) -> str:
    """One hash over the data files a run read (``{path: sha256}``)."""
    return sha256_bytes(json.dumps(dict(sorted(inputs.items())), sort_keys=True).encode())


def current_inputs(recorded: Mapping[str, str]) -> dict[str, str | None]:
    """The sha256 the recorded input files have now (None for a file that is gone)."""
    now: dict[str, str | None] = {}
    for rel in recorded:
        head, _, tail = rel.partition("/")
        path = data_dir() / tail if head == "data" else resolve_recorded(rel)
        now[rel] = _file_sha(path) if path.is_file() else None
    return now


def changed_files(old: Mapping[str, str | None], new: Mapping[str, str | None]) -> list[str]:
    """File names whose hash differs between two ``{path: sha256}`` maps (added, removed, changed)."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


@dataclass
class Staleness:
    """Why a run must run again (empty ``reasons``: it is up to date)."""
    reasons: list[str] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return not self.reasons

    def text(self) -> str:
        return "; ".join(self.reasons)


def _data_reasons(doc: Mapping[str, Any], snapshot: Mapping[str, Any]) -> tuple[str, list[str]]:
    """The data hash this run's fingerprint uses now, and the changed data files (by name).

    A run whose notebook recorded the files it read (glued ``inputs``) depends on those files
    only; an older run that recorded none depends on the whole data snapshot."""
    recorded = doc.get("data_inputs")
    if isinstance(recorded, dict) and recorded:
        now = current_inputs(recorded)
        return inputs_sha256({k: v or "" for k, v in now.items()}), changed_files(recorded, now)
    old_files = (doc.get("data") or {}).get("files") or {}
    new_files = snapshot.get("files") or {}
    return snapshot.get("sha256", ""), [f"data/{f}" for f in changed_files(old_files, new_files)]


def staleness(doc: Mapping[str, Any] | None, *, notebook_sha256: str, parameters: Mapping[str, Any],
              env: Mapping[str, Any], kernel: str | None, snapshot: Mapping[str, Any],
              base: Path | None = None) -> Staleness:
    """Compare a run's last manifest with what it would run with now.

    Up to date only when the last run succeeded, its fingerprint (notebook, parameters, the data
    files it read, package code and versions, kernel) is unchanged, and every output its manifest
    lists exists with the recorded sha256 (Sandve et al. 2013, rules 1-3: record what produced
    each result, so a missing or edited result is regenerated). ``base`` resolves the executed
    notebook's entry (the output folder). Each reason names the file or input concerned.
    """
    if not doc:
        return Staleness(["never run here"])
    if doc.get("status") != "ok":
        return Staleness([f"last run {doc.get('status')}"])
    if not isinstance(doc.get("inputs"), dict):
        return Staleness(["the manifest records no inputs"])
    data_sha, changed = _data_reasons(doc, snapshot)
    now = fingerprint_inputs(notebook_sha256=notebook_sha256, parameters=parameters,
                             data_sha256=data_sha, env=env, kernel=kernel)
    reasons = [f"input changed: {f}" for f in changed]
    reasons += [f"{key} changed" for key in changed_inputs(doc, now)
                if not (key == "data_sha256" and changed)]
    for entry in doc.get("outputs") or []:
        where = base if entry.get("kind") == "executed notebook" else None
        path = resolve_recorded(str(entry.get("path", "")), where)
        if not path.is_file():
            reasons.append(f"output missing: {entry.get('path')}")
        elif entry.get("sha256") and _file_sha(path) != entry["sha256"]:
            reasons.append(f"output changed: {entry.get('path')}")
    return Staleness(reasons)


def _fp_args(inputs: Mapping[str, Any]) -> dict[str, Any]:
    return {"notebook_sha256": inputs["notebook_sha256"], "parameters": inputs["parameters"],
            "data_sha256": inputs["data_sha256"], "kernel": inputs["kernel"]}


def run_manifest(*, name: str, outcome: Any, notebook: Mapping[str, str], parameters: Mapping[str, Any],
                 kernel: str | None, outputs: list[dict[str, Any]], data_inputs: Mapping[str, str],
                 snapshot: Mapping[str, Any], env: Mapping[str, Any], reason: str | None,
                 context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of one run (written after its executed notebook, as the run's commit marker).

    ``data_inputs`` are the data files the notebook recorded reading (``{path: sha256}``); when
    it recorded none the whole ``snapshot`` stands in. ``reason`` says why the run ran.
    """
    data_sha = inputs_sha256(data_inputs) if data_inputs else snapshot["sha256"]
    inputs = fingerprint_inputs(notebook_sha256=notebook["sha256"], parameters=parameters,
                                data_sha256=data_sha, env=env, kernel=kernel)
    ok = outcome.status == "ok"
    return {
        "manifest_version": 2, "run": name, "status": outcome.status,
        "fingerprint": fingerprint(**_fp_args(inputs), env=env), "inputs": inputs,
        "reason": reason, "notebook": dict(notebook), "parameters": dict(parameters),
        "kernel": kernel, "started": outcome.started, "finished": outcome.finished,
        "duration_s": outcome.duration_s, "kernel_start_attempts": outcome.kernel_attempts,
        "error": None if ok else {"name": outcome.error_name, "message": outcome.error_message,
                                  "cell_index": outcome.error_cell},
        "output": outputs[0] if outputs else None, "outputs": outputs,
        "data_inputs": dict(data_inputs),
        "data": snapshot if not data_inputs else {k: snapshot[k] for k in ("root", "sha256", "n_files")},
        "environment": dict(env), "context": dict(context or {}),
    }
