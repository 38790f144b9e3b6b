"""Where the project's files live.

The package is installed editable from the repository (``make install``), so data shipped in
``data/`` and the outputs in ``figures/``, ``results/``, ``reports/`` are found relative to the
repository root. ``CLUSTERSTATS_HOME`` overrides the root (e.g. for tests writing to a temp dir);
``CLUSTERSTATS_SHARED`` points at the shared folder holding ``mirror/`` (default ``../shared``).
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def repo_root() -> Path:
    return Path(os.environ.get("CLUSTERSTATS_HOME", REPO_ROOT)).resolve()


def data_dir() -> Path:
    """Shipped, versioned inputs: registers, geography tables, the pinned Eurostat/NSI snapshot."""
    return Path(os.environ.get("CLUSTERSTATS_DATA", REPO_ROOT / "data")).resolve()


def figures_dir() -> Path:
    return repo_root() / "figures"


def results_dir() -> Path:
    return repo_root() / "results"


def reports_dir() -> Path:
    return repo_root() / "reports"


def shared_dir() -> Path:
    """The shared folder beside the repository (holds ``mirror/`` with recorded Eurostat files)."""
    return Path(os.environ.get("CLUSTERSTATS_SHARED", REPO_ROOT.parent / "shared")).resolve()


def mirror_dir() -> Path:
    return shared_dir() / "mirror"
