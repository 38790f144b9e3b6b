"""clusterstats: test claims about Bulgaria's clusters and regional R&D against official data.

Entry points most users need:

* :func:`clusterstats.get_eurostat` - a Eurostat dataset as a tidy long frame (cache, offline, mirror).
* :func:`clusterstats.read_eurostat_file` - any of the four real Eurostat file formats, same shape.
* :mod:`clusterstats.registry` - the guide's cluster registers as validated, linked data.
* :mod:`clusterstats.stats` - the statistical tests, tidy one-row-per-test results.
"""
from __future__ import annotations

__version__ = "0.1.0"

# Record which shipped data files this process reads (a run's inputs, for its manifest and its
# fingerprint): see clusterstats.provenance.track_reads. Started at import so that files read
# while modules load (data/claims.yaml) count too.
from . import _paths as _p  # noqa: E402
from .provenance import track_reads as _track_reads  # noqa: E402

_track_reads(_p.data_dir())

__all__ = ["__version__", "get_eurostat", "read_eurostat_file"]


def __getattr__(name: str):
    # Lazy so that `import clusterstats` stays cheap in notebooks and CLI start-up.
    if name == "get_eurostat":
        from .eurostat import get_eurostat

        return get_eurostat
    if name == "read_eurostat_file":
        from .formats import read_eurostat_file

        return read_eurostat_file
    raise AttributeError(f"module 'clusterstats' has no attribute {name!r}")
