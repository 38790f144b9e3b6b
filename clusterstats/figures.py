"""Figures in one house style, saved with the data plotted and their provenance.

Typical use in a notebook::

    from clusterstats import figures as cf

    fig, ax = cf.new_figure("single")                 # 85 mm wide, house style applied
    cf.plot_series_with_flags(ax, bg, x="year", y="value", flag="flag", label="Bulgaria")
    cf.set_ylabel(ax, "GERD", "% of GDP")             # refuses an empty unit
    cf.set_time_xlabel(ax)
    cf.add_source_note(fig, "Source: Eurostat rd_e_gerdtot, bulk TSV of 2018-03-19.")
    cf.save_figure(fig, "gerd_bg", data=bg, sources=[{"dataset": "rd_e_gerdtot", ...}],
                   vintage="2018-03-19", notebook="01_gerd.ipynb", params={"geo": "BG"})

Contract used by every notebook (keep it)::

    save_figure(fig, name, *, data, sources, vintage=None, params=None, notebook=None,
                folder=None, **keyword-only extras) -> dict[str, Path]

It writes ``<folder>/<name>.pdf``, ``.svg``, ``.png`` (300 dpi), ``<name>.csv`` (exactly the data
plotted) and ``<name>.provenance.json``, and returns their paths keyed ``pdf, svg, png, csv,
provenance``.

House style
    Journal column widths (single ≈ 85 mm, double ≈ 175 mm, the common Elsevier/Springer/Taylor &
    Francis sizes). Text is 7–8 pt at the printed size, so nothing drops below 7 pt. Colours follow
    the Okabe–Ito palette, which stays distinguishable for the common colour-vision deficiencies
    (Okabe & Ito 2008, *Color Universal Design*; Wong 2011, *Nature Methods* 8:441). Sequential maps
    use viridis (perceptually uniform and colour-blind safe; van der Walt & Smith 2015). The only
    font is DejaVu Sans, which ships inside matplotlib: the output never depends on the fonts a
    machine happens to have installed, which is the first condition for byte-identical files.

Fonts in vector files
    PDF uses ``pdf.fonttype = 42``: the font is embedded as TrueType (subset), so text stays text
    (searchable, selectable, editable in Illustrator/Inkscape) and journals' "all fonts embedded"
    checks pass. SVG uses ``svg.fonttype = "path"``: SVG has no portable way to embed a font, and
    ``"none"`` would leave the look of the figure to whatever font the reader's browser substitutes.
    Glyphs as paths render identically everywhere; the price is that SVG text is not selectable, so
    the SVG's ``<metadata>`` carries the provenance as text instead.

Reproducible bytes
    Same inputs (figure, data, sources, vintage, params, notebook, package versions) give
    byte-identical PDF, SVG and PNG files. The rules that make this so:

    * dates: the PDF ``CreationDate``, the SVG ``dc:date`` and the PNG ``Creation Time`` text
      chunk come from the data vintage
      (``vintage=``, or the newest ``vintage`` among mapping ``sources``), never from the clock.
      If no vintage can be read as a date, ``SOURCE_DATE_EPOCH`` is used when set, otherwise the
      date is left out (an honest "unknown" rather than an invented time); ``ModDate`` is never set.
    * SVG element ids are hashed with a fixed ``svg.hashsalt`` instead of a random UUID.
    * PNG: matplotlib writes no ``tIME`` chunk; the text chunks carry only the provenance.
    * Bytes are stable for one environment: another matplotlib, FreeType or zlib version may
      draw or compress differently. The matplotlib version (its wheels bundle FreeType) is in the
      embedded record and the sidecar.
    * **The git commit is embedded** (``embedded_git_commit``, with ``-dirty`` when tracked files
      had uncommitted edits, and ``git_dirty``), so a figure that leaves the repository (submitted
      to a journal, copied into a manuscript) still says which code made it and can cite itself
      (``clusterstats figure-info FILE --cite``, :mod:`clusterstats.cite`). Same commit, same
      bytes still holds; a new commit changes the bytes of every figure (compare the plotted
      data with ``data_sha256``, which ignores the commit, to ask "did this figure change?").
      The sidecar records the commit too. ``embed_commit`` is kept for compatibility.
    * The provenance embedded in the files includes the sha256 of the plotted CSV, so different
      data always give different figure bytes even when two plots happen to look the same.

    The sidecar additionally records dependency versions and the commit; it is deterministic for a
    given checkout and environment.

Atomic writes
    All five outputs are rendered to memory first; only when every format rendered are they
    staged as temp files beside their targets, and only when all five are staged are they renamed
    into place (the sidecar last; see ``_write_set``). A failure while rendering (a bad glyph, a
    backend error, an unserialisable parameter) or while staging (disk full) leaves the previous
    figure set untouched and no partial files. :func:`verify_figure` checks a set is consistent.

Flags
    :func:`plot_series_with_flags` marks Eurostat observation flags: qualified values (estimated,
    provisional, low reliability, definition differs, forecast, Eurostat estimate, not significant)
    as open markers, breaks in series with a vertical bar and a dotted joining segment, and the flag
    letters beside the point, with legend entries that explain each letter present (meanings from
    Eurostat's code list of observation flags, ``ESTAT:CL_OBS_FLAG``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import re
import tempfile
import textwrap
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd

from ._paths import data_dir, figures_dir, mirror_dir, repo_root
from .sdmx_tsv import FLAGS
from .provenance import (dependency_versions, git_commit, package_version, sha256_bytes,
                         sha256_file)

__all__ = [
    "OKABE_ITO", "FLAG_MEANINGS", "QUALIFYING_FLAGS", "MM_PER_INCH", "COLUMN_WIDTH_MM",
    "HOUSE_RC", "use_house_style", "house_style", "new_figure", "axis_label", "set_xlabel",
    "set_ylabel", "set_time_xlabel", "add_source_note", "source_note_text", "parse_flags",
    "plot_series_with_flags", "flag_legend_handles", "save_figure", "figure_provenance",
    "read_embedded_provenance", "vintage_date", "verify_figure", "add_cli",
]

MM_PER_INCH = 25.4

#: Printed widths of a journal's single and double column (mm). 85/175 mm are the common
#: Elsevier/Springer sizes; 90/180 mm (Nature) differ by less than a font size at 7 pt.
COLUMN_WIDTH_MM = {"single": 85.0, "double": 175.0}

#: Okabe & Ito (2008) colour-universal-design palette. Yellow is last because it is faint on
#: white; black is kept for reference lines (e.g. an EU average).
OKABE_ITO = {
    "blue": "#0072B2", "vermillion": "#D55E00", "bluish_green": "#009E73",
    "reddish_purple": "#CC79A7", "orange": "#E69F00", "sky_blue": "#56B4E9",
    "black": "#000000", "yellow": "#F0E442",
}

#: Eurostat observation flags, letter -> meaning: the parser's vocabulary, so figures and data
#: can never disagree on what a letter means.
FLAG_MEANINGS = FLAGS
#: Flags that make a value less firm than an ordinary one; drawn as open markers.
QUALIFYING_FLAGS = frozenset("defnpsu")

BASE_FONT_PT = 8.0
SMALL_FONT_PT = 7.0  # the floor: nothing in a house-style figure is smaller

HOUSE_RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": BASE_FONT_PT,
    "axes.titlesize": BASE_FONT_PT,
    "axes.labelsize": BASE_FONT_PT,
    "xtick.labelsize": SMALL_FONT_PT,
    "ytick.labelsize": SMALL_FONT_PT,
    "legend.fontsize": SMALL_FONT_PT,
    "legend.title_fontsize": SMALL_FONT_PT,
    "figure.titlesize": BASE_FONT_PT + 1,
    "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO.values())),
    "image.cmap": "viridis",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",  # horizontal guides help read values; vertical ones add noise
    "axes.axisbelow": True,
    "grid.linewidth": 0.4,
    "grid.color": "#d9d9d9",
    "lines.linewidth": 1.2,
    "lines.markersize": 4.0,
    "patch.linewidth": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "figure.dpi": 150,
    "figure.constrained_layout.use": True,
    "savefig.dpi": 300,
    # read at save time; save_figure sets them again so they hold even without the style
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "clusterstats",
}

#: rcParams save_figure always applies while writing, whatever style the figure was drawn in.
_SAVE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path",
            "svg.hashsalt": "clusterstats", "pdf.compression": 6}


# --------------------------------------------------------------------------- style and layout

def use_house_style() -> None:
    """Apply the house style to matplotlib globally (call once at the top of a notebook)."""
    mpl.rcParams.update(HOUSE_RC)


@contextlib.contextmanager
def house_style() -> Iterator[None]:
    """The house style for the duration of a ``with`` block; previous settings come back after."""
    with mpl.rc_context(HOUSE_RC):
        yield


def _width_mm(width: str | float) -> float:
    if isinstance(width, str):
        try:
            return COLUMN_WIDTH_MM[width]
        except KeyError:
            raise ValueError(f"width must be 'single', 'double' or a number of mm, not {width!r}") from None
    width = float(width)
    if not 20 <= width <= 400:
        raise ValueError(f"width {width} mm is not a plausible printed width (20–400 mm)")
    return width


def new_figure(width: str | float = "single", height_mm: float | None = None, *, nrows: int = 1,
               ncols: int = 1, style: bool = True, **subplots_kw):
    """A figure at a journal's printed width, with constrained layout; returns ``(fig, axes)``.

    ``width`` is ``"single"`` (85 mm), ``"double"`` (175 mm) or a width in mm. ``height_mm``
    defaults to panels of about the golden ratio (0.62 × panel width per row; at most 200 mm in
    all) plus 12 mm for the footer (flag key, source line). With ``style=True`` (default) the
    house style is applied globally first, because text sizes are read when artists are created,
    not when the figure is saved.
    """
    import matplotlib.pyplot as plt

    if style:
        use_house_style()
    w = _width_mm(width)
    if height_mm is None:
        height_mm = min(0.62 * w / max(ncols, 1) * nrows, 200.0) + 12.0
    h = float(height_mm)
    if h <= 0:
        raise ValueError(f"height_mm must be positive, not {h}")
    subplots_kw.setdefault("layout", "constrained")
    fig, axes = plt.subplots(nrows, ncols, figsize=(w / MM_PER_INCH, h / MM_PER_INCH), **subplots_kw)
    return fig, axes


def axis_label(quantity: str, unit: str) -> str:
    """``"GERD (% of GDP)"``; refuses an empty quantity or unit so no axis goes out unitless.

    For counts say what is counted (``"clusters"``), for ratios ``"ratio"``, for indices the base
    (``"2015 = 100"``).
    """
    if not isinstance(quantity, str) or not quantity.strip():
        raise ValueError("axis label needs a quantity, e.g. 'GERD'")
    if not isinstance(unit, str) or not unit.strip():
        raise ValueError(f"axis label for {quantity!r} needs a unit, e.g. '% of GDP', 'EUR per "
                         "inhabitant', 'number of clusters'")
    return f"{quantity.strip()} ({unit.strip()})"


def set_xlabel(ax, quantity: str, unit: str, **kw):
    return ax.set_xlabel(axis_label(quantity, unit), **kw)


def set_ylabel(ax, quantity: str, unit: str, **kw):
    return ax.set_ylabel(axis_label(quantity, unit), **kw)


def set_time_xlabel(ax, label: str = "Year", *, integer_ticks: bool = True, **kw):
    """Label a calendar-time x axis (the unit is the label itself) and keep ticks on whole years."""
    from matplotlib.ticker import MaxNLocator

    if integer_ticks:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return ax.set_xlabel(label, **kw)


def add_source_note(fig, text: str, *, fontsize: float = SMALL_FONT_PT, wrap: bool = True):
    """Write a source line at the bottom-left of ``fig`` and keep the axes clear of it.

    Calling it again replaces the previous note. The text is wrapped to the figure width; the
    space it needs is reserved from the layout (constrained layout: its ``rect``; otherwise the
    subplot bottom margin), so the note never overlaps tick labels.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("source note must be non-empty text, e.g. 'Source: Eurostat rd_e_gerdtot, ...'")
    if fontsize < SMALL_FONT_PT:
        raise ValueError(f"source note at {fontsize} pt would be unreadable in print; "
                         f"the house minimum is {SMALL_FONT_PT} pt")
    old = getattr(fig, "_clusterstats_source_note", None)
    if old is not None:
        old.remove()
    width_pt = fig.get_figwidth() * 72.0
    # DejaVu Sans averages about 0.55 em per character in mixed text
    chars = max(20, int(width_pt / (0.55 * fontsize)) - 2)
    body = "\n".join(textwrap.fill(par, chars) for par in text.strip().split("\n")) if wrap else text.strip()
    pad_pt = 2.0
    artist = fig.text(pad_pt / width_pt, pad_pt / (fig.get_figheight() * 72.0), body,
                      ha="left", va="bottom", fontsize=fontsize, color="#333333",
                      gid="clusterstats-source-note")
    fig._clusterstats_source_note = artist
    _layout_footer(fig)
    return artist


def _renderer(fig):
    """A renderer to measure text with (Agg canvases have one; others get matplotlib's own)."""
    get = getattr(fig.canvas, "get_renderer", None)
    return get() if get is not None else fig._get_renderer()


def _layout_footer(fig) -> None:
    """Stack the footer (flag key above the source line) under the axes and reserve its height.

    Constrained layout does not see plain figure texts, and its ``outside`` legends ignore the
    layout ``rect``; so both footer parts are placed by hand and the layout is told to keep the
    axes above them.
    """
    renderer = _renderer(fig)
    gap = 3.0 / (fig.get_figheight() * 72.0)  # 3 pt between footer parts
    note = getattr(fig, "_clusterstats_source_note", None)
    reserve = 0.0
    if note is not None:
        reserve = note.get_window_extent(renderer).height / fig.bbox.height + 2 * gap
    leg = getattr(fig, "_clusterstats_flag_legend", None)
    if leg is not None:
        leg.set_bbox_to_anchor((0.5, reserve), transform=fig.transFigure)
        reserve += leg.get_window_extent(renderer).height / fig.bbox.height + gap
    engine = fig.get_layout_engine()
    if engine is not None and "rect" in _engine_params(engine):
        engine.set(rect=(0, reserve, 1, 1 - reserve))
    else:
        if not hasattr(fig, "_clusterstats_base_bottom"):
            fig._clusterstats_base_bottom = fig.subplotpars.bottom
        fig.subplots_adjust(bottom=min(fig._clusterstats_base_bottom + reserve, 0.9))


def _engine_params(engine) -> dict:
    try:
        return engine.get()
    except Exception:  # engines without get(): fall back to margins
        return {}


def source_note_text(sources: Sequence[str | Mapping[str, Any]], vintage: str | None = None) -> str:
    """A default "Source: …" line from ``save_figure``-style sources (used when a figure has none)."""
    parts = []
    for src in _normalise_sources(sources):
        if "text" in src and set(src) <= {"text", "url"}:
            parts.append(src["text"])
            continue
        label = " ".join(str(src[k]) for k in ("publisher", "dataset") if src.get(k))
        label = label or str(src.get("title") or src.get("file") or "")
        if src.get("vintage"):
            label += f", vintage {src['vintage']}"
        if src.get("note"):
            label += f"; {src['note']}"
        parts.append(label)
    line = "Source: " + "; ".join(p for p in parts if p)
    if vintage and all(not isinstance(s, Mapping) or not s.get("vintage") for s in sources):
        line += f"; vintage {vintage}"
    return line + "."


# --------------------------------------------------------------------------- flags

def parse_flags(value: Any) -> str:
    """Eurostat flag cell -> sorted unique lower-case letters (``"p b"``, ``"bp"`` -> ``"bp"``).

    Empty, NaN and ``":"`` (the not-available marker) give ``""``. The SDMX TSV appends the
    confidentiality status as ``@`` + a capital (``": @C"`` in tgs00042); every status except
    ``@F`` (free) withholds the value, so it reads as ``c`` (confidential). Unknown letters raise.
    """
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return ""
    text = str(value)
    conf = re.findall(r"@([A-Z])", text)
    if any(c not in "CDFNS" for c in conf):
        raise ValueError(f"unknown confidentiality status in {value!r}; known: @C @D @F @N @S")
    text = re.sub(r"@[A-Z]", "", text) + ("c" if any(c != "F" for c in conf) else "")
    letters = re.sub(r"[\s:]", "", text).lower()
    unknown = sorted(set(letters) - set(FLAG_MEANINGS))
    if unknown:
        raise ValueError(f"unknown Eurostat flag(s) {unknown} in {value!r}; "
                         f"known: {', '.join(sorted(FLAG_MEANINGS))}")
    return "".join(sorted(set(letters)))


def flag_legend_handles(flags: str | set[str], *, color: str = "#333333",
                        marker: str = "o", symbols: bool = True) -> list:
    """Legend proxies explaining each flag letter in ``flags``.

    With ``symbols`` the entries show how :func:`plot_series_with_flags` draws the flag (open
    marker, break bar); without, only the letter and its meaning (for maps and tables, where the
    letter itself is printed next to the value).
    """
    from matplotlib.lines import Line2D

    letters = sorted(set("".join(flags)))
    handles = []
    for letter in letters:
        text = f"{letter}: {FLAG_MEANINGS[letter]}"
        if not symbols:
            h = Line2D([], [], linestyle="none", marker=None, label=text)
        elif letter == "b":
            h = Line2D([], [], color=color, marker="|", markersize=9, markeredgewidth=1.2,
                       linestyle=":", linewidth=0.8, label=text)
        elif letter in QUALIFYING_FLAGS:
            h = Line2D([], [], color=color, marker=marker, markerfacecolor="white", linestyle="none",
                       label=text)
        else:
            h = Line2D([], [], linestyle="none", marker=None, label=text)
        h._clusterstats_flag = letter
        handles.append(h)
    return handles


def plot_series_with_flags(ax, df: pd.DataFrame, x: str, y: str, flag: str | None = "flag", *,
                           label: str | None = None, color: str | None = None, marker: str = "o",
                           annotate: bool = True, legend: bool = True,
                           flag_legend: str | None = "figure",
                           legend_kw: Mapping[str, Any] | None = None, **line_kw) -> dict[str, Any]:
    """Line-and-marker series where Eurostat flags are visible and explained.

    * unflagged values: filled markers;
    * qualified values (e, p, u, d, f, s, n): open markers (white face);
    * ``b`` break in series: a vertical bar on the point, and the segment that crosses the break is
      drawn dotted, because values either side are not comparable;
    * with ``annotate=True`` the flag letters are written beside each flagged point, as Eurostat
      prints them in its tables.

    Legends: ``legend=True`` puts the series names in an axes legend (``loc="best"``, override
    with ``legend_kw``). The flag key explains every letter present: with
    ``flag_legend="figure"`` (default) in one figure-level legend below the axes, shared by all
    subplots, so it never covers data even at single-column width; ``"axes"`` appends it to the
    axes legend; ``None`` leaves it out (then explain the flags in the caption).

    Missing values (NaN ``y``) interrupt the line. Rows are drawn in ``x`` order. Call once per
    series; legends are rebuilt each time so they cover all series and flags drawn so far.
    Returns the artists (``lines``, ``markers``, ``breaks``, ``annotations``, ``legend``,
    ``flag_legend``).
    """
    if flag_legend not in ("figure", "axes", None):
        raise ValueError(f"flag_legend must be 'figure', 'axes' or None, not {flag_legend!r}")
    for col in (x, y) + ((flag,) if flag else ()):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in data (columns: {list(df.columns)})")
    dup = df[x].duplicated(keep=False)
    if dup.any():
        first = df.loc[dup, x].iloc[0]
        first = first.item() if hasattr(first, "item") else first
        rows = df.index[dup].tolist()
        shown = f"{rows[:6]}" + (f" and {len(rows) - 6} more" if len(rows) > 6 else "")
        raise ValueError(f"rows {shown} repeat {x} values (e.g. {first!r}): "
                         "pass one series per call (filter geo/unit/sector first)")
    if flag:
        for label_, xv, fv in zip(df.index, df[x], df[flag]):
            try:
                parse_flags(fv)
            except ValueError as exc:
                xv = xv.item() if hasattr(xv, "item") else xv
                raise ValueError(f"row {label_!r} ({x}={xv!r}): {exc}") from None
    d = df[[x, y] + ([flag] if flag else [])].copy()
    d = d.sort_values(x, kind="stable").reset_index(drop=True)
    d["_flags"] = [parse_flags(v) for v in d[flag]] if flag else ""
    xs = d[x].to_numpy()
    ys = pd.to_numeric(d[y], errors="coerce").to_numpy(dtype=float)
    flags = d["_flags"].tolist()

    if color is None:
        color = ax._get_lines.get_next_color()
    line_kw.setdefault("linewidth", mpl.rcParams["lines.linewidth"])
    artists: dict[str, Any] = {"lines": [], "breaks": [], "annotations": []}

    # The solid line joins comparable neighbours only: it is cut before every 'b' point, and the
    # segment that crosses the break is drawn dotted.
    starts = [0] + [i for i in range(1, len(xs)) if "b" in flags[i]]
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(xs)
        (run,) = ax.plot(xs[start:stop], ys[start:stop], color=color, marker="none",
                         label=label if k == 0 else None, **line_kw)
        artists["lines"].append(run)
        if start > 0 and np.isfinite(ys[start]) and np.isfinite(ys[start - 1]):
            (seg,) = ax.plot(xs[start - 1:start + 1], ys[start - 1:start + 1], color=color,
                             linestyle=":", linewidth=line_kw["linewidth"] * 0.8,
                             gid="clusterstats-break-segment")
            artists["breaks"].append(seg)

    qualified = np.array([bool(set(f) & QUALIFYING_FLAGS) for f in flags])
    finite = np.isfinite(ys)
    filled = ax.plot(xs[finite & ~qualified], ys[finite & ~qualified], linestyle="none",
                     marker=marker, color=color, markerfacecolor=color, zorder=3)[0]
    hollow = ax.plot(xs[finite & qualified], ys[finite & qualified], linestyle="none",
                     marker=marker, color=color, markerfacecolor="white", zorder=3,
                     gid="clusterstats-qualified")[0]
    is_break = np.array(["b" in f for f in flags])
    bars = ax.plot(xs[finite & is_break], ys[finite & is_break], linestyle="none", marker="|",
                   markersize=mpl.rcParams["lines.markersize"] * 2.4, markeredgewidth=1.2,
                   color=color, zorder=4, gid="clusterstats-break")[0]
    artists["markers"] = {"filled": filled, "qualified": hollow, "break": bars}

    if annotate:
        for xi, yi, f in zip(xs, ys, flags):
            if f and np.isfinite(yi):
                artists["annotations"].append(ax.annotate(
                    f, (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=SMALL_FONT_PT,
                    color=color, ha="left", va="bottom", gid="clusterstats-flag-label"))

    # only flags on drawn points need a key entry (a 'c' on a missing value marks nothing)
    drawn = "".join(f for f, ok in zip(flags, finite) if ok)
    seen = set(getattr(ax, "_clusterstats_flags", set())) | set(drawn)
    ax._clusterstats_flags = seen
    ax._clusterstats_flag_symbols = True
    # In the legend a series shows its line *and* marker, not the bare line artist.
    proxies = dict(getattr(ax, "_clusterstats_proxies", {}))
    if label is not None:
        from matplotlib.lines import Line2D

        proxies[artists["lines"][0]] = Line2D([], [], color=color, marker=marker,
                                              linewidth=line_kw["linewidth"], label=label)
    ax._clusterstats_proxies = proxies
    artists["legend"] = None
    handles, _ = ax.get_legend_handles_labels()
    handles = [proxies.get(h, h) for h in handles]
    if flag_legend == "axes":
        handles += flag_legend_handles(seen, symbols=True)
    if legend and handles:
        kw = {"loc": "best"}
        kw.update(legend_kw or {})
        artists["legend"] = ax.legend(handles=handles, **kw)
    artists["flag_legend"] = _figure_flag_legend(ax.figure) if flag_legend == "figure" else None
    return artists


def _figure_flag_legend(fig):
    """(Re)draw the figure-level key of all flags used on any axes of ``fig``, below the axes."""
    old = getattr(fig, "_clusterstats_flag_legend", None)
    if old is not None:
        old.remove()
        fig._clusterstats_flag_legend = None
        _layout_footer(fig)
    flags = set().union(*(getattr(a, "_clusterstats_flags", set()) for a in fig.axes))
    # maps print the letters beside values; series also draw symbols for them
    symbols = any(getattr(a, "_clusterstats_flag_symbols", False) for a in fig.axes)
    handles = flag_legend_handles(flags, symbols=symbols)
    if not handles:
        return None
    # Entries in one row when they fit the width, else as many columns as fit.
    width_pt = fig.get_figwidth() * 72.0
    fs = mpl.rcParams["legend.fontsize"]
    fs = fs if isinstance(fs, (int, float)) else SMALL_FONT_PT
    entry_pt = [len(h.get_label()) * 0.55 * fs + 3.5 * fs for h in handles]
    ncols = len(handles)
    while ncols > 1 and sum(sorted(entry_pt, reverse=True)[:ncols]) > 0.95 * width_pt:
        ncols -= 1
    # matplotlib fills legend columns top to bottom; reorder so the key reads left to right
    nrows = -(-len(handles) // ncols)
    handles = [handles[r * ncols + c] for c in range(ncols) for r in range(nrows)
               if r * ncols + c < len(handles)]
    leg = fig.legend(handles=handles, ncols=ncols, columnspacing=1.2,
                     handletextpad=0.4 if symbols else 0.0,
                     handlelength=mpl.rcParams["legend.handlelength"] if symbols else 0.0,
                     borderaxespad=0.0, borderpad=0.2, loc="lower center",
                     bbox_to_anchor=(0.5, 0.0), bbox_transform=fig.transFigure)
    leg.set_gid("clusterstats-flag-legend")
    fig._clusterstats_flag_legend = leg
    _layout_footer(fig)
    return leg


# --------------------------------------------------------------------------- provenance

_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?"), "ymd"),
    (re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$"), "dmy4"),
    (re.compile(r"^(\d{1,2})[./](\d{1,2})[./](\d{2})$"), "dmy2"),
    (re.compile(r"^(\d{4})-(\d{2})$"), "ym"),
    (re.compile(r"^(\d{4})$"), "y"),
)


def vintage_date(vintage: str | None) -> _dt.datetime | None:
    """Read a vintage such as ``2022-03-15``, ``15/03/22`` (Eurostat LAST UPDATE), ``15.03.2022``,
    ``2022-03`` or ``2022`` as a UTC datetime; None when it is not a date."""
    if vintage is None:
        return None
    s = str(vintage).strip()
    s = re.sub(r"^(?:LAST UPDATE|last update|vintage)\s*[:=]?\s*", "", s)
    for pattern, kind in _DATE_PATTERNS:
        m = pattern.match(s)
        if not m:
            continue
        g = [int(v) if v else 0 for v in m.groups()]
        try:
            if kind == "ymd":
                return _dt.datetime(g[0], g[1], g[2], g[3], g[4], g[5], tzinfo=_dt.timezone.utc)
            if kind == "dmy4":
                return _dt.datetime(g[2], g[1], g[0], tzinfo=_dt.timezone.utc)
            if kind == "dmy2":
                return _dt.datetime(2000 + g[2], g[1], g[0], tzinfo=_dt.timezone.utc)
            if kind == "ym":
                return _dt.datetime(g[0], g[1], 1, tzinfo=_dt.timezone.utc)
            return _dt.datetime(g[0], 1, 1, tzinfo=_dt.timezone.utc)
        except ValueError:
            return None
    return None


def _normalise_sources(sources) -> list[dict[str, Any]]:
    if isinstance(sources, (str, Mapping)):
        sources = [sources]
    out = []
    for i, src in enumerate(sources):
        if isinstance(src, str):
            if not src.strip():
                raise ValueError(f"sources[{i}] is empty")
            out.append(_with_source_url({"text": src.strip()}))
        elif isinstance(src, Mapping):
            if not src:
                raise ValueError(f"sources[{i}] is an empty mapping")
            out.append(_with_source_url({str(k): _jsonable(v) for k, v in src.items()}))
        else:
            raise TypeError(f"sources[{i}] must be a string or a mapping, not {type(src).__name__}")
    if not out:
        raise ValueError("save_figure needs at least one source (dataset code, file, or citation)")
    return out


#: Eurostat's data browser page of a dataset (the page the "cite this figure" block links to).
EUROSTAT_DATASET_URL = "https://ec.europa.eu/eurostat/databrowser/view/{code}/default/table"


def _with_source_url(src: dict[str, Any]) -> dict[str, Any]:
    """Add the data browser URL to a Eurostat source that names no ``url`` of its own.

    A mapping source needs publisher Eurostat and a dataset code; a text source
    (``"Eurostat tgs00042 (vintage ...)"``) gets one when it names exactly one entry of the
    pinned snapshot (``data/eurostat/manifest.json``), whose dataset code gives the URL.
    """
    if "url" in src:
        return src
    code = str(src.get("dataset") or "")
    if "eurostat" in str(src.get("publisher", "")).lower() and re.fullmatch(r"[a-z][a-z0-9_]*", code):
        src["url"] = EUROSTAT_DATASET_URL.format(code=code)
    elif set(src) == {"text"}:
        names = _snapshot_datasets()
        found = {names[w] for w in re.findall(r"\bEurostat\s+([a-z][a-z0-9_]+)", src["text"])
                 if w in names}
        if len(found) == 1:
            src["url"] = EUROSTAT_DATASET_URL.format(code=found.pop())
    return src


def _snapshot_datasets() -> dict[str, str]:
    """Snapshot entry name -> Eurostat dataset code, from ``data/eurostat/manifest.json``."""
    path = data_dir() / "eurostat" / "manifest.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8")).get("entries", {})
    except (OSError, ValueError):
        return {}
    return {name: e["dataset"] for name, e in entries.items()
            if isinstance(e, Mapping) and re.fullmatch(r"[a-z][a-z0-9_]*", str(e.get("dataset", "")))}


def _embedded_commit(commit: str | None) -> dict[str, Any]:
    """The commit recorded inside the figure files: ``embedded_git_commit`` (with ``-dirty``
    when tracked files had uncommitted edits) and ``git_dirty``. Same commit, same bytes."""
    return {"embedded_git_commit": commit,
            "git_dirty": None if commit is None else commit.endswith("-dirty")}


def _jsonable(v):
    if isinstance(v, Path):
        return _portable_path(v)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        items = [_jsonable(x) for x in v]
        return sorted(items, key=str) if isinstance(v, (set, frozenset)) else items
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        try:
            return v.item()
        except (TypeError, ValueError):
            pass
    return v


def _portable_path(path: str | os.PathLike) -> str:
    """A path as recorded in provenance: relative to the repo, data or mirror folder, never a
    machine path (another machine has another home directory)."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    p = p.resolve()
    for base, prefix in ((data_dir(), "data"), (mirror_dir(), "mirror"), (repo_root(), "")):
        try:
            rel = p.relative_to(base)
        except ValueError:
            continue
        return (Path(prefix) / rel).as_posix() if prefix else rel.as_posix()
    return p.name


def _csv_bytes(data: pd.DataFrame) -> bytes:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be the pandas DataFrame that was plotted, not {type(data).__name__}")
    frame = data
    # A meaningful index (named, or several levels) is part of the data; a plain 0..n-1 is not.
    if isinstance(frame.index, pd.MultiIndex) or frame.index.name is not None:
        frame = frame.reset_index()
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def figure_provenance(name: str, *, data: pd.DataFrame, sources, vintage=None, params=None,
                      notebook=None, input_files: Sequence[str | os.PathLike] = (),
                      title: str | None = None, run: str | None = None) -> dict[str, Any]:
    """The provenance record embedded in the figure files: no git commit and no clock, so it is
    the same for the same inputs (``save_figure`` adds the commit to the sidecar)."""
    data_csv = _csv_bytes(data)
    srcs = _normalise_sources(sources)
    vintages = [s.get("vintage") for s in srcs if s.get("vintage")]
    date = vintage_date(vintage)
    if date is None and vintages:
        parsed = [d for d in (vintage_date(v) for v in vintages) if d is not None]
        date = max(parsed) if parsed else None
    inputs = []
    for f in input_files:
        p = Path(f)
        if not p.is_file():
            raise FileNotFoundError(f"input file {p} recorded for figure {name!r} does not exist")
        inputs.append({"file": _portable_path(p), "sha256": sha256_file(p)})
    return {
        "figure": name,
        "run": run,
        "title": title,
        "sources": srcs,
        "vintage": vintage,
        "metadata_date": date.isoformat() if date else None,
        "params": _jsonable(dict(params or {})),
        "notebook": _portable_path(notebook) if notebook else None,
        "input_files": inputs,
        "data_sha256": sha256_bytes(data_csv),
        "data_shape": [int(data.shape[0]), int(data.shape[1])],
        "clusterstats_version": package_version(),
        "matplotlib_version": mpl.__version__,
    }


def _metadata_date(prov: Mapping[str, Any]) -> _dt.datetime | None:
    if prov.get("metadata_date"):
        return _dt.datetime.fromisoformat(prov["metadata_date"])
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
    return None


def save_figure(fig, name: str, *, data: pd.DataFrame,
                sources: str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]],
                vintage: str | None = None, params: Mapping[str, Any] | None = None,
                notebook: str | None = None, folder: str | Path | None = None,
                title: str | None = None, input_files: Sequence[str | os.PathLike] = (),
                embed_commit: bool = False, source_note: str | bool | None = None,
                tight: bool | None = None, run: str | None = None) -> dict[str, Path]:
    """Write ``fig`` as PDF, SVG, PNG (300 dpi) with the plotted data (CSV) and provenance (JSON).

    ``sources``: strings (``"Eurostat rd_e_gerdtot"``) or mappings such as
    ``{"publisher": "Eurostat", "dataset": "rd_e_gerdtot", "filters": {"geo": "BG"},
    "vintage": "2022-03-15", "file": "mirror/eurostat/...", "sha256": "..."}``.
    ``input_files``: files read to make the figure; their sha256 is recorded.
    ``title``: PDF/SVG title (default: ``name``).
    ``embed_commit``: kept for compatibility; the commit is always embedded now (see the module
    docstring). The sidecar always has it.
    ``source_note``: ``None`` adds a source line built from ``sources`` if the figure has none;
    a string sets that line; ``False`` leaves the figure as it is.
    ``run``: the name of the run that made the figure (:class:`clusterstats.context.RunContext`
    passes it; the figure then lives in ``figures/<run>/``).
    ``tight``: crop to the drawn content (``bbox_inches="tight"``). Default: only for figures
    without a layout engine, so house-style figures keep their exact column width.

    Returns the written paths keyed ``pdf, svg, png, csv, provenance``.

    Examples
    --------
    >>> import tempfile
    >>> from clusterstats import figures as cf
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")
    >>> bg = gerd[gerd["geo"].astype(str).str.fullmatch("BG[0-9][0-9]") & (gerd["time"] == "2016")]
    >>> fig, ax = cf.new_figure("single")
    >>> bars = ax.bar(bg["geo"].astype(str), bg["value"])
    >>> label = cf.set_ylabel(ax, "GERD", "% of GDP")
    >>> tmp = tempfile.TemporaryDirectory()
    >>> paths = cf.save_figure(fig, "gerd_bg_2016", data=bg[["geo", "value"]],
    ...                        sources=[{"publisher": "Eurostat", "dataset": "tgs00042",
    ...                                  "vintage": gerd.attrs["vintage"]}], folder=tmp.name)
    >>> sorted(paths)
    ['csv', 'pdf', 'png', 'provenance', 'svg']
    >>> cf.read_embedded_provenance(paths["png"])["sources"][0]["url"]
    'https://ec.europa.eu/eurostat/databrowser/view/tgs00042/default/table'
    >>> tmp.cleanup()
    """
    if not isinstance(name, str) or not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) \
            or name.startswith("."):
        raise ValueError(f"figure name {name!r} must be a plain file stem (letters, digits, _ . -)")
    folder = Path(folder) if folder is not None else figures_dir()
    csv_bytes = _csv_bytes(data)
    prov = figure_provenance(name, data=data, sources=sources, vintage=vintage, params=params,
                             notebook=notebook, input_files=input_files, title=title or name,
                             run=run)
    commit = git_commit()
    embedded = dict(prov, **_embedded_commit(commit))
    sidecar = dict(prov, git_commit=commit, dependency_versions=dependency_versions(),
                   commit_embedded_in_figures=True)

    if source_note is None and getattr(fig, "_clusterstats_source_note", None) is None:
        add_source_note(fig, source_note_text(sources, vintage))
    elif isinstance(source_note, str):
        add_source_note(fig, source_note)

    try:
        prov_json = json.dumps(embedded, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    except TypeError as exc:
        raise TypeError(f"figure {name!r}: sources and params must be JSON-serialisable "
                        f"(strings, numbers, lists, dicts): {exc}") from None
    date = _metadata_date(prov)
    doc_title = title or name
    subject = source_note_text(sources, vintage)
    keywords = [s.get("dataset") for s in prov["sources"] if s.get("dataset")]
    metadata = {
        "pdf": {"Title": doc_title, "Subject": subject, "Keywords": ", ".join(map(str, keywords)),
                "Creator": f"clusterstats {package_version()}", "CreationDate": date, "ModDate": None,
                "ClusterstatsProvenance": prov_json},
        "svg": {"Title": doc_title, "Description": prov_json, "Source": subject,
                "Creator": f"clusterstats {package_version()}; Matplotlib v{mpl.__version__}",
                "Date": date.isoformat() if date else None,
                "Keywords": [str(k) for k in keywords] or None},
        "png": {"Title": doc_title, "Source": subject, "Software": f"clusterstats {package_version()}; "
                f"Matplotlib v{mpl.__version__}", "clusterstats:provenance": prov_json,
                **({"Creation Time": date.isoformat()} if date else {})},
    }
    if metadata["svg"]["Keywords"] is None:
        del metadata["svg"]["Keywords"]
    if tight is None:
        tight = fig.get_layout_engine() is None

    rendered: dict[str, bytes] = {}
    with mpl.rc_context(_SAVE_RC), warnings.catch_warnings():
        # A custom Info key is valid PDF (ISO 32000-1, 14.3.3); matplotlib only warns that it
        # is not one of the standard ones.
        warnings.filterwarnings("ignore", message="Unknown infodict keyword")
        for fmt in ("pdf", "svg", "png"):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=300 if fmt == "png" else None,
                        bbox_inches="tight" if tight else None, pad_inches=0.02,
                        metadata=metadata[fmt])
            rendered[fmt] = buf.getvalue()
    rendered["csv"] = csv_bytes
    # the sidecar lists the hash of every file written with it, to check a figure set is whole
    sidecar["files_sha256"] = {f"{name}.{fmt}": sha256_bytes(rendered[fmt])
                               for fmt in ("pdf", "svg", "png", "csv")}
    rendered["provenance"] = (json.dumps(sidecar, indent=2, sort_keys=True, ensure_ascii=False)
                              + "\n").encode("utf-8")

    suffix = {"pdf": ".pdf", "svg": ".svg", "png": ".png", "csv": ".csv",
              "provenance": ".provenance.json"}
    return _write_set(folder, {key: (f"{name}{suffix[key]}", blob) for key, blob in rendered.items()})


def _stage(path: Path, blob: bytes) -> Path:
    """Write ``blob`` to a hidden temp file beside ``path`` (flushed to disk); return its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; figures are meant to be shared
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _write_set(folder: Path, files: dict[str, tuple[str, bytes]]) -> dict[str, Path]:
    """Write a figure set all-or-nothing as far as a file system allows.

    Every file is first staged as a temp file in the target folder (the same idea as
    :func:`clusterstats.provenance.atomic_write_bytes`, which does it for one file); only when all
    five are staged are they renamed into place, the sidecar last, so that a sidecar on disk
    means its set was completed. A failure while staging (disk full, permissions) removes the
    temp files and leaves any previous set untouched.
    """
    folder.mkdir(parents=True, exist_ok=True)
    order = sorted(files, key=lambda k: k == "provenance")  # sidecar last
    staged: dict[str, Path] = {}
    try:
        for key in order:
            staged[key] = _stage(folder / files[key][0], files[key][1])
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    out = {}
    for key in order:
        target = folder / files[key][0]
        os.replace(staged[key], target)
        out[key] = target
    return out


_PDF_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f",
                ord("("): b"(", ord(")"): b")", ord("\\"): b"\\"}


def _pdf_literal(raw: bytes, start: int) -> bytes:
    """The PDF literal string whose opening parenthesis is at ``raw[start]`` (ISO 32000-1, 7.3.4.2)."""
    out, depth, i = bytearray(), 0, start
    while i < len(raw):
        c = raw[i]
        if c == 0x5C:  # backslash
            nxt = raw[i + 1]
            out += _PDF_ESCAPES.get(nxt, bytes([nxt]))
            i += 2
            continue
        if c == 0x28:
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out)
        out.append(c)
        i += 1
    raise ValueError("unterminated PDF string")


def read_embedded_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance record embedded by :func:`save_figure` in a PDF, PNG or SVG file.

    Lets anyone holding only the figure file find out where it came from (and lets the tests
    check that it is there). Raises ValueError if the file carries none.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        raw = path.read_bytes()
        key = b"/ClusterstatsProvenance"
        at = raw.rfind(key)
        if at < 0:
            raise ValueError(f"{path}: no /ClusterstatsProvenance entry in the PDF Info dictionary")
        start = raw.index(b"(", at)
        text = _pdf_literal(raw, start).decode("ascii")
    elif suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            text = im.text.get("clusterstats:provenance")
        if text is None:
            raise ValueError(f"{path}: no 'clusterstats:provenance' PNG text chunk")
    elif suffix == ".svg":
        import xml.etree.ElementTree as ET

        ns = {"dc": "http://purl.org/dc/elements/1.1/"}
        node = ET.parse(path).getroot().find(".//dc:description", ns)
        if node is None or not node.text:
            raise ValueError(f"{path}: no dc:description in the SVG metadata")
        text = node.text
    else:
        raise ValueError(f"{path}: provenance is embedded only in .pdf, .png and .svg files")
    return json.loads(text)


def verify_figure(path: str | os.PathLike) -> pd.DataFrame:
    """Check a saved figure against its data: one row per figure file (pdf, svg, png).

    Columns: ``file``, ``embedded`` (provenance found), ``data_sha256`` (embedded hash),
    ``csv_matches`` (the CSV beside it still hashes to that value), ``sidecar_matches`` (the
    ``.provenance.json`` beside it records the same hash). ``path`` may be any file of the set.
    """
    path = Path(path)
    stem = path.name
    for suffix in (".provenance.json", ".pdf", ".svg", ".png", ".csv"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    folder = path.parent
    csv = folder / f"{stem}.csv"
    csv_hash = sha256_file(csv) if csv.is_file() else None
    side = folder / f"{stem}.provenance.json"
    side_hash = json.loads(side.read_text()).get("data_sha256") if side.is_file() else None
    rows = []
    for fmt in ("pdf", "svg", "png"):
        f = folder / f"{stem}.{fmt}"
        if not f.is_file():
            rows.append({"file": f.name, "embedded": False, "data_sha256": None,
                         "csv_matches": False, "sidecar_matches": False})
            continue
        try:
            emb = read_embedded_provenance(f).get("data_sha256")
        except ValueError:
            emb = None
        rows.append({"file": f.name, "embedded": emb is not None, "data_sha256": emb,
                     "csv_matches": emb is not None and emb == csv_hash,
                     "sidecar_matches": emb is not None and emb == side_hash})
    return pd.DataFrame(rows)


def add_cli(subparsers) -> None:
    """``clusterstats figure-info FILE...``: print a figure's embedded provenance, or with
    ``--verify`` check every figure file against the CSV and sidecar saved with it."""
    p = subparsers.add_parser("figure-info", help="show or verify the provenance embedded in figures")
    p.add_argument("files", nargs="+", help="figure files (.pdf, .svg, .png)")
    p.add_argument("--verify", action="store_true",
                   help="check the embedded data hash against the saved CSV and sidecar")
    p.add_argument("--cite", nargs="?", const="apa", choices=("apa", "bibtex"),
                   help="print a citation of the figure (default style: apa); see clusterstats.cite")
    p.set_defaults(func=_cli_figure_info)


def _cli_figure_info(args) -> int:
    if getattr(args, "cite", None):
        from .cite import cli_cite

        return cli_cite(args.files, args.cite)
    status = 0
    for f in args.files:
        if args.verify:
            report = verify_figure(f)
            ok = bool(report[["embedded", "csv_matches", "sidecar_matches"]].all(axis=None))
            print(f"{f}: {'OK' if ok else 'MISMATCH'}")
            if not ok:
                print(report.to_string(index=False))
                status = 1
        else:
            try:
                print(json.dumps(read_embedded_provenance(f), indent=2, sort_keys=True))
            except (ValueError, OSError) as exc:
                print(f"{f}: {exc}")
                status = 1
    return status
