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
