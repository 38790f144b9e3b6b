"""The vintage-pinned data snapshot the notebooks read, and the tool that compares two of them.

Eurostat keeps no versions: a table fetched today may differ from the one fetched last year
(see the reference notes, A1). So the notebooks never read the live service or the shared
mirror. They read small tidy CSV files committed under ``data/eurostat/`` and ``data/nsi/``,
each described in that folder's ``manifest.json``: the source file and its sha256, the vintage
(Eurostat's LAST UPDATE, or the date the file was recorded when it carries none), the filters,
the row count and the sha256 of the CSV written. A spec file (``snapshot.yaml`` in each folder)
lists the entries.

* ``clusterstats data snapshot`` rebuilds the snapshot from the mirror (``--refresh``: from the
  live service through :func:`clusterstats.get_eurostat`, with ``refresh=True`` so the cache
  cannot answer in Eurostat's place, and with the entry's exact-code filters sent to the server;
  the manifest then records Eurostat's ``UPDATE_DATA`` as the vintage, the retrieval time, the
  URL, and ``refreshed_live`` only when a request was made). Every frame is built in memory
  first, then each file is written atomically and the manifest last, so a failure leaves the
  previous snapshot as it was.
* ``clusterstats data fetch CODE geo=BG41,BG31 --start 2015 -o out.csv``: one live query to a tidy
  CSV with a provenance sidecar (:mod:`clusterstats.fetch`).
* ``clusterstats data diff OLD NEW`` lists revised values and changed flags between two snapshots.
* :func:`load_snapshot` reads one entry back, typed, with its manifest entry in ``df.attrs``.
  It reads only ``data/``; it needs neither the mirror nor the network.

Different vintages of one dataset are separate entries (``nama_10r_2gdp_2017`` and
``nama_10r_2gdp_2026``) and are never spliced into one series.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import yaml

from ._paths import data_dir, mirror_dir
from .provenance import atomic_write_bytes, atomic_write_json, sha256_bytes, sha256_file

__all__ = ["load_snapshot", "available", "build_snapshot", "write_snapshot", "diff_snapshots",
           "read_spec", "add_cli", "SnapshotError", "SNAPSHOT_FOLDERS"]

#: folders under data/ that hold a snapshot (spec ``snapshot.yaml`` + ``manifest.json``).
SNAPSHOT_FOLDERS = ("eurostat", "nsi")
MANIFEST = "manifest.json"
SPEC = "snapshot.yaml"

#: columns that are measures or per-row metadata rather than keys of an observation.
VALUE_COLUMNS = ("value", "flag")


class SnapshotError(RuntimeError):
    """A snapshot entry is missing, unknown or does not match its manifest."""


# --------------------------------------------------------------------------------------------
# spec
# --------------------------------------------------------------------------------------------

def read_spec(path: str | Path) -> list[dict[str, Any]]:
    """Entries of a ``snapshot.yaml``; checks that names are unique and sources are listed."""
    path = Path(path)
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = spec.get("entries") or []
    seen: set[str] = set()
    for i, e in enumerate(entries, 1):
        for key in ("name", "dataset", "source"):
            if not e.get(key):
                raise SnapshotError(f"{path}: entry {i} has no {key!r}")
        if e["name"] in seen:
            raise SnapshotError(f"{path}: entry name {e['name']!r} appears twice")
        seen.add(e["name"])
        if isinstance(e["source"], str):
            e["source"] = [e["source"]]
    return entries


def apply_filters(df: pd.DataFrame, filters: dict[str, list[str]] | None, *, where: str = "") -> pd.DataFrame:
    """Keep rows whose codes are listed; a code ending in ``*`` is a prefix (``BG*``)."""
    if not filters:
        return df
    keep = np.ones(len(df), dtype=bool)
    for dim, codes in filters.items():
        if dim not in df.columns:
            raise SnapshotError(f"{where}filter on {dim!r}, but the data has no such column "
                                f"(columns: {list(df.columns)})")
        col = df[dim].astype(str)
        codes = [str(c) for c in (codes if isinstance(codes, list) else [codes])]
        exact = [c for c in codes if not c.endswith("*")]
        prefixes = tuple(c[:-1] for c in codes if c.endswith("*"))
        m = col.isin(exact).to_numpy().copy()
        if prefixes:
            m |= col.str.startswith(prefixes).to_numpy(dtype=bool)
        keep &= m
    return df.loc[keep]


# --------------------------------------------------------------------------------------------
# building: source file(s) -> tidy frame + manifest entry
# --------------------------------------------------------------------------------------------

def _eurostat_reader(path: Path) -> pd.DataFrame:
    from .formats import read_eurostat_file

    return read_eurostat_file(path)


def _readers() -> dict[str, Callable[[Path], pd.DataFrame]]:
    from . import nsi

    return {"eurostat": _eurostat_reader, **nsi.SNAPSHOT_READERS}


def _canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Stable row order and plain column types, so the CSV diffs cleanly between builds."""
    keys = [c for c in df.columns if c not in VALUE_COLUMNS]
    out = df.copy()
    for c in keys:
        # integers (NSI years) stay integers; codes become plain strings
        if not pd.api.types.is_integer_dtype(out[c]):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    if "flag" in out.columns:
        out["flag"] = out["flag"].astype(object).where(out["flag"].notna(), None)
    # Cells with neither a value nor a flag carry no information (':' in the source).
    if "value" in out.columns:
        empty = out["value"].isna() & (out["flag"].isna() if "flag" in out.columns else True)
        out = out.loc[~empty]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8, LF, no index, floats in shortest round-trip form, empty for NaN/NA."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", na_rep="")
    return buf.getvalue().encode("utf-8")


def _server_filters(filters: dict[str, Any] | None) -> dict[str, list[str]]:
    """The exact codes of a spec's filters (sent to Eurostat); prefixes (``BG*``) stay local."""
    out: dict[str, list[str]] = {}
    for dim, codes in (filters or {}).items():
        codes = [str(c) for c in (codes if isinstance(codes, list) else [codes])]
        if codes and not any(c.endswith("*") for c in codes):
            out[dim] = codes
    return out


def _fetch_live(entry: dict[str, Any], client=None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One entry from the live service: its filters server-side, ``refresh=True`` (the cache must
    not answer for Eurostat), and what the manifest records about the answer."""
    from .eurostat import get_eurostat, iso_timestamp  # the live client; imported only when asked for

    kwargs = {"client": client} if client is not None else {}
    df = get_eurostat(entry["dataset"], _server_filters(entry.get("filters")), refresh=True, **kwargs)
    attrs = dict(df.attrs)
    update = iso_timestamp(attrs.get("last_update"))
    retrieved = attrs.get("retrieved_at") or datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    live = {
        "source": [{"path": attrs.get("url") or f"eurostat:{entry['dataset']}", "sha256": attrs.get("sha256")}],
        "url": attrs.get("url"),
        "vintage": update or retrieved[:10],
        "vintage_kind": ("UPDATE_DATA (Eurostat dataflow annotation)" if update
                         else "retrieved (the dataflow carries no UPDATE_DATA)"),
        "retrieved": retrieved,
        "refreshed_live": attrs.get("source") == "live",
        "format": "sdmx_tsv",
    }
    return df, live


def _read_sources(entry: dict[str, Any], mirror: Path, reader_name: str, where: str):
    reader = _readers().get(reader_name)
    if reader is None:
        raise SnapshotError(f"{where}unknown reader {reader_name!r}")
    frames, sources, attrs = [], [], {}
    for rel in entry["source"]:
        path = mirror / rel
        if not path.exists():
            raise SnapshotError(f"{where}source file {rel} not found under the mirror {mirror}")
        df = reader(path)
        attrs = {**dict(df.attrs), **{k: v for k, v in attrs.items() if v is not None}}
        frames.append(df)
        sources.append({"path": rel, "sha256": sha256_file(path)})
    vintages = {f.attrs.get("vintage") for f in frames} - {None}
    vintage = max(vintages) if vintages else None
    recorded = {
        "source": sources, "url": None, "format": attrs.get("format"),
        "vintage": entry.get("vintage") or vintage or entry.get("recorded"),
        "vintage_kind": (entry.get("vintage_kind") or "as stated in the spec" if entry.get("vintage")
                         else "LAST UPDATE" if vintage
                         else "recorded (upper bound: date the file was recorded)"),
        "retrieved": entry.get("recorded"), "refreshed_live": False,
    }
    return frames, attrs, recorded


def build_entry(entry: dict[str, Any], *, refresh: bool = False, mirror: Path | None = None,
                client=None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read one spec entry's source(s), filter, and return (canonical frame, manifest entry).

    With ``refresh`` a Eurostat entry (not a derived extract) is fetched live (see
    :func:`_fetch_live`); ``client`` is the :class:`clusterstats.eurostat.Client` to use.
    """
    mirror = Path(mirror) if mirror else mirror_dir()
    reader_name = entry.get("reader", "eurostat")
    where = f"snapshot entry {entry['name']!r}: "
    if refresh and reader_name == "eurostat" and not entry.get("derived_extract"):
        df, origin = _fetch_live(entry, client)
        frames, attrs = [df], dict(df.attrs)
    else:
        frames, attrs, origin = _read_sources(entry, mirror, reader_name, where)
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    df = apply_filters(df, entry.get("filters"), where=where)
    df = _canonical(df)
    if df.empty:
        raise SnapshotError(f"{where}no rows left after the filters {entry.get('filters')}")
    manifest = {
        "name": entry["name"],
        "dataset": entry["dataset"],
        "filters": entry.get("filters") or {},
        "source": origin["source"],
        **({"url": origin["url"]} if origin["url"] else {}),
        "format": origin["format"],
        "vintage": origin["vintage"],
        "vintage_kind": origin["vintage_kind"],
        "retrieved": origin["retrieved"],
        "refreshed_live": origin["refreshed_live"],
        "rows": int(len(df)),
        "columns": {c: _dtype_name(df, c) for c in df.columns},
        "derived": bool(entry.get("formula")),
        "formula": entry.get("formula"),
        "derived_extract": bool(entry.get("derived_extract") or attrs.get("derived")),
        "derived_from": attrs.get("derived_from"),
        "note": entry.get("note"),
    }
    return df, manifest


def _dtype_name(df: pd.DataFrame, col: str) -> str:
    if col == "value":
        return "float64"
    if col == "flag":
        return "category"
    if pd.api.types.is_integer_dtype(df[col]):
        return "Int64"
    return "category"


def build_snapshot(spec_path: str | Path, *, refresh: bool = False, mirror: Path | None = None,
                   client=None) -> list[tuple[pd.DataFrame, dict[str, Any]]]:
    """Every entry of a spec built in memory (nothing is written)."""
    return [build_entry(e, refresh=refresh, mirror=mirror, client=client) for e in read_spec(spec_path)]


def write_snapshot(spec_path: str | Path, out_dir: str | Path, *, refresh: bool = False,
                   mirror: Path | None = None, client=None) -> dict[str, Any]:
    """Build every entry, then write ``<name>.csv`` files and ``manifest.json`` into ``out_dir``.

    All frames are built before anything is written, each file is replaced atomically and the
    manifest is written last, so a failure while building leaves the old snapshot untouched.
    """
    out_dir = Path(out_dir)
    built = build_snapshot(spec_path, refresh=refresh, mirror=mirror, client=client)
    payloads = []
    for df, entry in built:
        data = to_csv_bytes(df)
        entry = {**entry, "file": f"{entry['name']}.csv", "sha256": sha256_bytes(data)}
        payloads.append((entry, data))
    for entry, data in payloads:
        path = out_dir / entry["file"]
        # Unchanged files are left alone so their mtime (and git) stays quiet.
        if not (path.exists() and sha256_file(path) == entry["sha256"]):
            atomic_write_bytes(path, data)
    manifest = {
        "spec": Path(spec_path).name,
        "entries": {entry["name"]: entry for entry, _ in payloads},
    }
    atomic_write_json(out_dir / MANIFEST, manifest)
    return manifest


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------

def _manifest_paths(folders: list[Path] | None = None) -> list[Path]:
    folders = folders or [data_dir() / f for f in SNAPSHOT_FOLDERS]
    return [Path(f) / MANIFEST for f in folders if (Path(f) / MANIFEST).exists()]


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"no snapshot manifest at {path}") from None


def available(folders: list[Path] | None = None) -> dict[str, Path]:
    """Snapshot entry name -> the folder holding it, over ``data/eurostat`` and ``data/nsi``."""
    out: dict[str, Path] = {}
    for mpath in _manifest_paths(folders):
        for name in read_manifest(mpath)["entries"]:
            out[name] = mpath.parent
    return out


def load_snapshot(name: str, *, folder: str | Path | None = None, verify: bool = True) -> pd.DataFrame:
    """One snapshot entry as a typed tidy frame; ``df.attrs`` holds its manifest entry.

    Reads only ``data/`` (or ``folder``), never the mirror or the network. With ``verify`` the
    CSV's sha256 must equal the manifest's, so a hand-edited file is caught.

    Parameters
    ----------
    name : str
        Snapshot entry (``data/eurostat/manifest.json``, ``data/nsi/manifest.json``), e.g.
        ``"tgs00042"``.
    folder : path-like, optional
        Another snapshot folder.
    verify : bool
        Check the CSV's sha256 against the manifest.

    Returns
    -------
    pandas.DataFrame
        Tidy rows; ``attrs`` has the dataset code, filters, source file, vintage and sha256.

    Raises
    ------
    SnapshotError
        Unknown entry (the message lists the available ones) or a changed file.

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")
    >>> gerd.attrs["dataset"], gerd.attrs["vintage"]
    ('tgs00042', '2026-05-12')
    >>> gerd.loc[(gerd["geo"] == "BG41") & (gerd["time"] == "2016"), "value"].tolist()
    [1.14]
    """
    names = available([Path(folder)] if folder else None)
    if name not in names:
        raise SnapshotError(f"no snapshot entry {name!r}; available: {', '.join(sorted(names)) or 'none'}"
                            " (build with `clusterstats data snapshot`)")
    where = names[name]
    entry = read_manifest(where)["entries"][name]
    path = where / entry["file"]
    data = path.read_bytes()
    if verify and sha256_bytes(data) != entry["sha256"]:
        raise SnapshotError(f"{path}: sha256 differs from {where / MANIFEST}; the file was changed "
                            "after the snapshot was written (rebuild with `clusterstats data snapshot`)")
    cols = entry["columns"]
    dtypes = {c: ("float64" if t == "float64" else "Int64" if t == "Int64" else str) for c, t in cols.items()}
    df = pd.read_csv(io.BytesIO(data), dtype=dtypes, keep_default_na=False, na_values={
        c: [""] for c in cols})
    for c, t in cols.items():
        if t == "category":
            if c == "time":
                df[c] = pd.Categorical(df[c], categories=sorted(df[c].dropna().unique()), ordered=True)
            else:
                df[c] = df[c].astype("category")
    df.attrs.update(entry)
    df.attrs["source_kind"] = "snapshot"
    df.attrs["snapshot_folder"] = where.name
    return df


# --------------------------------------------------------------------------------------------
# diff
# --------------------------------------------------------------------------------------------

DIFF_COLUMNS = ["name", "key", "time", "change", "old_value", "new_value", "old_flag", "new_flag"]


def _entry_frame(folder: Path, entry: dict[str, Any]) -> pd.DataFrame:
    df = pd.read_csv(folder / entry["file"], dtype=str, keep_default_na=False)
    df["value"] = pd.to_numeric(df["value"].replace("", np.nan))
    return df


def diff_snapshots(old: str | Path, new: str | Path) -> pd.DataFrame:
    """Revised values, changed flags, added and removed observations between two snapshots.

    ``old``/``new`` are snapshot folders or manifest files. One row per changed observation:
    ``name``, ``key`` (the non-time codes joined by ``,``), ``time``, ``change`` (``revised``,
    ``flag``, ``revised+flag``, ``added``, ``removed``, ``entry added``, ``entry removed``),
    old/new value and flag. Values compare exactly: a snapshot stores the published digits.
    """
    mo, mn = read_manifest(old), read_manifest(new)
    fo = Path(old) if Path(old).is_dir() else Path(old).parent
    fn = Path(new) if Path(new).is_dir() else Path(new).parent
    out = []
    for name in sorted(set(mo["entries"]) | set(mn["entries"])):
        eo, en = mo["entries"].get(name), mn["entries"].get(name)
        if eo is None or en is None:
            out.append({"name": name, "change": "entry added" if eo is None else "entry removed"})
            continue
        if eo["sha256"] == en["sha256"]:
            continue
        a, b = _entry_frame(fo, eo), _entry_frame(fn, en)
        keys = [c for c in a.columns if c not in VALUE_COLUMNS and c in b.columns]
        if "flag" not in a:
            a["flag"] = ""
        if "flag" not in b:
            b["flag"] = ""
        m = a.merge(b, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True)
        vo, vn = m["value_old"], m["value_new"]
        revised = ~((vo == vn) | (vo.isna() & vn.isna()))
        flagged = m["flag_old"].fillna("") != m["flag_new"].fillna("")
        change = np.select(
            [m["_merge"] == "left_only", m["_merge"] == "right_only", revised & flagged, revised, flagged],
            ["removed", "added", "revised+flag", "revised", "flag"], default="")
        m["change"] = change
        m = m[m["change"] != ""]
        if m.empty:
            continue
        time_col = next((k for k in ("time", "year", "reference_date") if k in keys), None)
        key_cols = [k for k in keys if k != time_col]
        m = m.assign(name=name, key=m[key_cols].astype(str).agg(",".join, axis=1) if key_cols else "",
                     time=m[time_col] if time_col else "",
                     old_value=vo[m.index], new_value=vn[m.index],
                     old_flag=m["flag_old"], new_flag=m["flag_new"])
        out.append(m[DIFF_COLUMNS])
    frames = [x if isinstance(x, pd.DataFrame) else pd.DataFrame([x]) for x in out]
    if not frames:
        return pd.DataFrame(columns=DIFF_COLUMNS)
    return pd.concat(frames, ignore_index=True).reindex(columns=DIFF_COLUMNS)


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------

def _cmd_snapshot(args: argparse.Namespace) -> int:
    from .eurostat import EurostatError

    try:
        return _snapshot(args)
    except (SnapshotError, EurostatError, ValueError, OSError) as exc:
        # nothing was written for the folder that failed (frames are built before writing)
        print(f"clusterstats data snapshot: {exc}", file=sys.stderr)
        return 1


def _snapshot(args: argparse.Namespace) -> int:
    folders = [args.only] if args.only else list(SNAPSHOT_FOLDERS)
    for name in folders:
        spec = data_dir() / name / SPEC
        if not spec.exists():
            print(f"skip {name}: no {spec}", file=sys.stderr)
            continue
        out = Path(args.out) / name if args.out else data_dir() / name
        manifest = write_snapshot(spec, out, refresh=args.refresh)
        for entry in manifest["entries"].values():
            print(f"{name}/{entry['file']}: {entry['rows']} rows, vintage {entry['vintage']}"
                  f"{' (derived extract)' if entry['derived_extract'] else ''}")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    try:
        table = diff_snapshots(args.old, args.new)
    except (SnapshotError, OSError) as exc:
        print(f"clusterstats data diff: {exc}", file=sys.stderr)
        return 1
    if args.out:
        atomic_write_bytes(args.out, to_csv_bytes(table))
    if table.empty:
        print("no differences")
        return 0
    summary = table.groupby(["name", "change"]).size().rename("n").reset_index()
    print(summary.to_string(index=False))
    print()
    with pd.option_context("display.max_rows", args.max_rows, "display.width", 200):
        print(table.head(args.max_rows).to_string(index=False))
    if len(table) > args.max_rows:
        print(f"... {len(table) - args.max_rows} more rows" + ("" if args.out else " (use --out FILE)"))
    return 0


def add_cli(subparsers) -> None:
    data = subparsers.add_parser("data", help="the pinned Eurostat/NSI data snapshot")
    sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    snap = sub.add_parser("snapshot", help="write data/eurostat and data/nsi from the mirror (or live)")
    snap.add_argument("--refresh", action="store_true",
                      help="fetch Eurostat tables live through clusterstats.get_eurostat instead of the mirror")
    snap.add_argument("--only", choices=SNAPSHOT_FOLDERS, help="only this folder")
    snap.add_argument("--out", help="write to OUT/<folder> instead of data/<folder>")
    snap.set_defaults(func=_cmd_snapshot)
    diff = sub.add_parser("diff", help="revised values and changed flags between two snapshots")
    diff.add_argument("old", help="old snapshot folder or manifest.json")
    diff.add_argument("new", help="new snapshot folder or manifest.json")
    diff.add_argument("--out", help="write the full table as CSV")
    diff.add_argument("--max-rows", type=int, default=50)
    diff.set_defaults(func=_cmd_diff)
    from .fetch import add_fetch_cli

    add_fetch_cli(sub)
    data.set_defaults(func=lambda a: (data.print_help(), 2)[1])
