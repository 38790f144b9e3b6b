"""Progress bars for the long loops (bootstrap refits, permutation tests), only where they help.

:func:`progress_bar` wraps an iterable in :func:`tqdm.auto.tqdm` (a widget in JupyterLab, text in
a terminal) when a person is watching and the loop is long; otherwise it returns the iterable
unchanged. Bars never change results: they only wrap the loop's ``range``.

"A person is watching" means: stderr is a terminal, or the code runs in a Jupyter kernel whose
current request came from a front end that accepts input (JupyterLab, Notebook). papermill and
nbclient (``clusterstats run``/``batch``) execute with ``allow_stdin=False``, so executed
notebooks carry no progress output (their outputs stay the same from run to run).
``CLUSTERSTATS_PROGRESS=0`` or ``1`` overrides the guess; a function's ``progress=True/False``
overrides both.

Example
-------
>>> from clusterstats.progress import progress_bar
>>> sum(progress_bar(range(5), progress=False))
10
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

__all__ = ["LONG_LOOP", "interactive", "show_progress", "progress_bar"]

T = TypeVar("T")

#: loops with at least this many iterations get a bar by default (when interactive)
LONG_LOOP = 500


def interactive() -> bool:
    """True in a terminal or in a notebook run from JupyterLab; False under papermill and pipes."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        return bool(getattr(kernel, "_allow_stdin", False))
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def show_progress(total: int, progress: bool | None = None) -> bool:
    """Whether a loop of ``total`` iterations shows a bar: ``progress`` if given, else
    ``CLUSTERSTATS_PROGRESS`` if set, else long (:data:`LONG_LOOP`) and :func:`interactive`."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get("CLUSTERSTATS_PROGRESS")
    if env in ("0", "1"):
        return env == "1"
    return total >= LONG_LOOP and interactive()


def progress_bar(iterable: Iterable[T], *, total: int | None = None, progress: bool | None = None,
                 desc: str | None = None) -> Iterable[T]:
    """``iterable``, wrapped in a tqdm.auto bar when :func:`show_progress` says so.

    Parameters
    ----------
    iterable : iterable
        The loop's iterable (e.g. ``range(n_boot)``).
    total : int, optional
        Its length, when ``len(iterable)`` does not work.
    progress : bool, optional
        Force the bar on or off; None decides automatically.
    desc : str, optional
        The bar's label.

    Returns
    -------
    iterable
        The same items in the same order.
    """
    if total is None:
        total = len(iterable) if hasattr(iterable, "__len__") else 0
    if not show_progress(total, progress):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total or None, desc=desc, leave=False)
