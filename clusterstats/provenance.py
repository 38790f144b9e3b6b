"""Provenance helpers: hashes, versions and the git commit, recorded with every output."""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ._paths import REPO_ROOT

KEY_DEPENDENCIES = (
    "pandas", "numpy", "scipy", "statsmodels", "matplotlib", "seaborn", "pyarrow",
    "papermill", "eurostat", "geopandas", "scikit-learn", "ruptures",
)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def package_version() -> str:
    from . import __version__

    return __version__


def dependency_versions(names: tuple[str, ...] = KEY_DEPENDENCIES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(root: Path = REPO_ROOT) -> str | None:
    """The checked-out commit, with ``-dirty`` if tracked files differ; None outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True, timeout=10).stdout.strip()
        # A passthrough clean filter: with nbstripout installed as a git filter, plain `git status`
        # starts one Python process per notebook, which made every figure save take seconds.
        dirty = subprocess.run(["git", "-c", "filter.nbstripout.clean=cat", "status", "--porcelain",
                                "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty else "")


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike):
    """Open ``path`` for binary writing via a temp file in the same folder, renamed on success.

    Readers never see half a file, and an exception (or Ctrl-C) inside the block leaves any
    previous file untouched and no temp file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; outputs are meant to be shared, so use the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False,
                                              default=str) + "\n")


# ---------------------------------------------------------------------------------------------
# which shipped data files a run read (the run's inputs, for its manifest and fingerprint)
# ---------------------------------------------------------------------------------------------
_READS: dict[str, None] = {}
_TRACKED_ROOTS: list[Path] = []


def _audit_open(event: str, args: tuple) -> None:
    # sys.audit fires "open" for builtins.open/io.open (pandas, gzip, yaml ... all go through it)
    if event != "open" or not _TRACKED_ROOTS or not args or not isinstance(args[0], (str, Path)):
        return
    mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
    if any(m in mode for m in "wax+"):
        return
    path = os.path.abspath(args[0])
    for root in _TRACKED_ROOTS:
        if path.startswith(str(root) + os.sep):
            _READS.setdefault(path)
            return


def track_reads(root: str | os.PathLike) -> None:
    """Start recording every file opened for reading below ``root`` (e.g. ``data/``).

    Uses a Python audit hook (PEP 578) on the ``open`` event, so every loader (pandas, yaml, gzip,
    the snapshot and register readers) is covered without each one having to remember to report.
    Files read by C libraries that bypass Python's ``open`` (GDAL through pyogrio) are recorded by
    calling :func:`record_read` explicitly. The hook is installed once per process.
    """
    import sys

    root = Path(root).resolve()
    if root not in _TRACKED_ROOTS:
        _TRACKED_ROOTS.append(root)
    if not getattr(track_reads, "_installed", False):
        sys.addaudithook(_audit_open)
        track_reads._installed = True  # type: ignore[attr-defined]


def record_read(path: str | os.PathLike) -> None:
    """Record that ``path`` was read (for readers that do not go through Python's ``open``)."""
    _READS.setdefault(os.path.abspath(path))


def files_read(root: str | os.PathLike | None = None) -> list[Path]:
    """The files recorded by :func:`track_reads`/:func:`record_read`, in first-read order,
    limited to those below ``root`` when given."""
    paths = [Path(p) for p in _READS]
    if root is not None:
        base = Path(root).resolve()
        paths = [p for p in paths if base in p.parents]
    return [p for p in paths if p.is_file()]
