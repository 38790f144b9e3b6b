"""Read any Eurostat file on disk into one tidy shape, whatever format Eurostat used that year.

Eurostat has published the same tables in several file formats over the years, and the recorded
files in the shared mirror use all of them:

===================  ==============================================================  ===========
format id            what it looks like                                              example
===================  ==============================================================  ===========
``sdmx_tsv``         SDMX 2.1 TSV, header ``freq,...,geo\\TIME_PERIOD``               estat_tgs00042.tsv
``bulk_tsv``         old bulk-download TSV, header ``unit,geo\\time``                  nama_10r_2gdp.tsv.gz
``sdmx_csv_1``       databrowser "linear" SDMX-CSV 1.0 (DATAFLOW, LAST UPDATE, ...)  ..._linear.csv
``sdmx_csv_2``       SDMX-CSV 2.0 with labels (STRUCTURE, STRUCTURE_ID, ...)         eurostat_tgs00042_...csv
``legacy_csv``       old databrowser ``*_1_Data.csv`` export (labels or codes)       gba_nabsfin07_1_Data.csv
===================  ==============================================================  ===========

:func:`read_eurostat_file` detects the format from the first line and returns the shape that
:func:`clusterstats.sdmx_tsv.parse_tsv` returns for the TSV formats: one column per dimension
(lower-case Eurostat ids), ``time`` (string), ``value`` (float64, NaN for ``:``) and ``flag``
(categorical of Eurostat flag letters, NA when there is none). ``df.attrs`` records where the
frame came from: ``path``, ``format``, ``sha256``, ``dataset`` and ``vintage`` (Eurostat's
LAST UPDATE in ISO form, or None when the file does not carry one).

Files that carry only labels (the legacy export with labels) are mapped back to codes through
the reviewed table ``data/eurostat/codelists/labels.csv``; each row says what evidence supports
it (a value match between a labelled and a coded copy of the same dataset, a file that carries
both, or a reviewed reference). A label with no row there is an error listing every such label.

Two files in the mirror are not Eurostat formats but derived extracts made by others from
Eurostat data; :func:`read_derived_extract` reads them into the same shape and marks them
``attrs["derived"] = True`` (see ``PROVENANCE.md`` in the mirror for how each was made).
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ._paths import data_dir
from .provenance import sha256_bytes

TIDY_TAIL = ("time", "value", "flag")

#: SDMX-CSV attribute/measure columns that are not dimensions.
_SDMX_NON_DIMS = {"STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME", "DATAFLOW", "LAST UPDATE",
                  "TIME_PERIOD", "OBS_VALUE", "OBS_FLAG", "CONF_STATUS"}
#: Eurostat dimension ids are lower-case identifiers; label columns in SDMX-CSV 2.0 are not.
_DIM_ID = re.compile(r"^[a-z][a-z0-9_]*$")
#: A code in a legacy export (``BG311``, ``B-S_X_K642``, ``V11910``); labels contain spaces or lower case.
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]*$")
#: Eurostat flags are lower-case letters (b, c, d, e, n, p, s, u, z, ...), possibly several at once,
#: optionally followed by ``@`` and an SDMX CONF_STATUS letter as the SDMX TSV writes it (``@C``).
_FLAG = re.compile(r"^[a-z]*(@[A-Z])?$")


class EurostatFileError(ValueError):
    """A file that is not in a recognised Eurostat format, or is malformed. Names file, line, reason."""

    def __init__(self, path, line: int | None, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {reason}")


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def read_bytes(path: str | os.PathLike, raw: bytes | None = None) -> bytes:
    """The file's bytes, gunzipped if it is gzip (detected from the magic number, not the name)."""
    raw = Path(path).read_bytes() if raw is None else raw
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise EurostatFileError(path, None, f"corrupt gzip data ({exc})") from exc
    return raw


def _text(path, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EurostatFileError(path, line, f"not UTF-8 ({exc.reason})") from exc
    return text


def detect_format(first_line: str) -> str:
    """Format id (see the module table) from a file's first line; ``unknown`` if none fits."""
    head = first_line.lstrip("\ufeff").strip("\r\n")
    first_cell = head.split("\t", 1)[0]
    if "\t" in head and "\\" in first_cell:
        return "sdmx_tsv" if first_cell.endswith("\\TIME_PERIOD") else "bulk_tsv"
    cols = next(csv.reader([head]))
    if cols[:2] == ["DATAFLOW", "LAST UPDATE"]:
        return "sdmx_csv_1"
    if cols[:3] == ["STRUCTURE", "STRUCTURE_ID", "STRUCTURE_NAME"]:
        return "sdmx_csv_2"
    if cols[:2] == ["TIME", "GEO"] and "Value" in cols:
        return "legacy_csv"
    if cols[:3] == ["year", "nuts_id", "nuts_year_spec"] and len(cols) == 4:
        return "nesta_extract"
    if cols == ["geo", "year", "region_population_tgs00096", "region_gdp_mio_eur_tgs00003"]:
        return "tgs00096_extract"
    return "unknown"


def read_eurostat_file(path: str | os.PathLike, *, flags: bool = True) -> pd.DataFrame:
    """Read a recorded Eurostat file (any of the formats above, gzip or not) into the tidy shape.

    ``flags=False`` drops the ``flag`` column (values are unchanged). The derived extracts are
    read too (with ``attrs["derived"] = True``), so one call covers every file in the mirror.

    Parameters
    ----------
    path : path-like
        A file as Eurostat serves it: SDMX-TSV, bulk TSV, SDMX-CSV 1.0/2.0 or the legacy
        "Data.csv" export (the format is detected from the first line).
    flags : bool
        Keep the ``flag`` column.

    Returns
    -------
    pandas.DataFrame
        Tidy rows (dimensions, ``time``, ``value``, ``flag``); ``attrs["format"]`` names the
        format that was read.

    Examples
    --------
    A file recorded from Eurostat (``../shared/mirror/``, see its ``PROVENANCE.md``):

    >>> from clusterstats._paths import mirror_dir
    >>> from clusterstats.formats import read_eurostat_file
    >>> df = read_eurostat_file(mirror_dir() / "eurostat/tgs00042/estat_tgs00042.tsv")
    >>> df.attrs["format"], list(df.columns)
    ('sdmx_tsv', ['freq', 'sectperf', 'unit', 'geo', 'time', 'value', 'flag'])
    >>> df.loc[(df["geo"] == "BG41") & (df["time"] == "2016"), "value"].tolist()
    [1.14]
    """
    path = Path(path)
    stored = path.read_bytes()
    data = read_bytes(path, stored)
    text = _text(path, data)
    first = text.split("\n", 1)[0]
    fmt = detect_format(first)
    if fmt in ("sdmx_tsv", "bulk_tsv"):
        df = _read_tsv(path, data)
    elif fmt == "sdmx_csv_1":
        df = _read_sdmx_csv_1(path, text)
    elif fmt == "sdmx_csv_2":
        df = _read_sdmx_csv_2(path, text)
    elif fmt == "legacy_csv":
        df = _read_legacy_csv(path, text)
    elif fmt in ("nesta_extract", "tgs00096_extract"):
        df = read_derived_extract(path)
    else:
        raise EurostatFileError(path, 1, f"not a recognised Eurostat file format (first line {first[:80]!r})")
    df.attrs.setdefault("path", str(path))
    df.attrs["format"] = df.attrs.get("format", fmt)
    df.attrs["sha256"] = sha256_bytes(stored)  # of the file as stored (gzip or not)
    df.attrs.setdefault("dataset", _dataset_from_name(path))
    df.attrs.setdefault("vintage", None)
    df.attrs.setdefault("derived", False)
    if not flags:
        df = df.drop(columns="flag")
    return df


def _dataset_from_name(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".gz", ".tsv", ".csv"):
        name = name.removesuffix(suffix)
    name = re.sub(r"_1_data$", "", name)
    name = re.sub(r"^estat_", "", name)
    return name


# --------------------------------------------------------------------------------------------
# TSV: delegated to the one TSV parser in the package
# --------------------------------------------------------------------------------------------

def _read_tsv(path: Path, data: bytes) -> pd.DataFrame:
    from .sdmx_tsv import parse_tsv  # the package's one TSV parser (shared with the live client)

    try:
        df = parse_tsv(data, flags=True)
    except ValueError as exc:
        # parse_tsv knows the line but not the file; add the file name.
        raise EurostatFileError(path, getattr(exc, "line", None), str(exc)) from exc
    df.attrs["path"] = str(path)
    return df


# --------------------------------------------------------------------------------------------
# shared helpers for the CSV formats
# --------------------------------------------------------------------------------------------

def _rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) for each data row; rows of the wrong width are errors."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise EurostatFileError(path, 1, "empty file") from None
    except csv.Error as exc:
        raise EurostatFileError(path, 1, f"unreadable CSV header ({exc})") from exc
    rows = []
    try:
        for fields in reader:
            if not fields or fields == [""]:
                continue
            if len(fields) != len(header):
                raise EurostatFileError(path, reader.line_num,
                                        f"{len(fields)} fields, header has {len(header)}")
            rows.append((reader.line_num, fields))
    except csv.Error as exc:
        raise EurostatFileError(path, reader.line_num, f"unreadable CSV ({exc})") from exc
    return header, rows


def parse_value(cell: str) -> float:
    """One Eurostat value: ``:`` (optionally with a flag) or empty is NaN; spaces are thousands separators."""
    s = cell.strip()
    if s == "" or s.startswith(":"):
        return np.nan
    return float(s.replace(" ", "").replace("\u00a0", ""))


def _values(path: Path, cells: list[str], lines: list[int], column: str) -> np.ndarray:
    out = np.empty(len(cells), dtype="float64")
    for i, (cell, line) in enumerate(zip(cells, lines)):
        try:
            out[i] = parse_value(cell)
        except ValueError:
            raise EurostatFileError(path, line, f"{column} {cell!r} is not a number or ':'") from None
    return out


def _flags(path: Path, cells: list[str], lines: list[int], column: str) -> pd.Categorical:
    clean: list[str | None] = []
    for cell, line in zip(cells, lines):
        s = cell.strip()
        if s == "":
            clean.append(None)
        elif _FLAG.match(s):
            clean.append(s)
        else:
            raise EurostatFileError(path, line, f"{column} {cell!r} is not a Eurostat flag (lower-case letters)")
    return flag_categorical(clean)


def flag_categorical(flags: list[str | None]) -> pd.Categorical:
    """Flags as a categorical with string categories (also when no row has a flag)."""
    cats = pd.Index(sorted({f for f in flags if f is not None}), dtype=object)
    return pd.Categorical(flags, categories=cats)


def _frame(dims: dict[str, list[str]], time: list[str], value: np.ndarray,
           flag: pd.Categorical) -> pd.DataFrame:
    """Assemble the tidy frame with the dtypes and row order :func:`sdmx_tsv.parse_tsv` uses.

    Dimensions are categoricals (categories in order of first appearance), ``time`` an ordered
    categorical of the periods ascending, rows series by series with periods ascending, so a
    frame read from CSV and one read from TSV compare equal when they hold the same data.
    """
    cols: dict[str, object] = {}
    for d, cells in dims.items():
        cols[d] = pd.Categorical(cells, categories=pd.Index(list(dict.fromkeys(cells)), dtype=object))
    cols["time"] = pd.Categorical(time, categories=pd.Index(sorted(set(time)), dtype=object), ordered=True)
    cols["value"] = np.asarray(value, dtype="float64")
    cols["flag"] = flag
    df = pd.DataFrame(cols)
    keys = list(dims) + ["time"]
    order = np.lexsort([df[k].cat.codes.to_numpy() for k in reversed(keys)])
    return df.iloc[order].reset_index(drop=True)


def _iso_datetime(text: str, formats: tuple[str, ...]) -> str | None:
    for fmt in formats:
        try:
            return datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------------------------
# SDMX-CSV 1.0 ("linear")
# --------------------------------------------------------------------------------------------

def _dataset_from_flow(flow: str) -> str:
    """``ESTAT:RD_E_GERDTOT(1.0)`` or ``ESTAT:NAMA_10R_2GDP$DEFAULTVIEW(1.0)`` -> ``rd_e_gerdtot``."""
    m = re.match(r"^(?:[A-Z_]+:)?([A-Za-z0-9_]+)", flow)
    return m.group(1).lower() if m else flow


def _read_sdmx_csv_1(path: Path, text: str) -> pd.DataFrame:
    header, rows = _rows(path, text)
    for col in ("TIME_PERIOD", "OBS_VALUE"):
        if col not in header:
            raise EurostatFileError(path, 1, f"SDMX-CSV without a {col} column")
    dims = [c for c in header if c not in _SDMX_NON_DIMS]
    ix = {c: header.index(c) for c in header}
    lines = [ln for ln, _ in rows]
    df = _frame({d: [r[ix[d]] for _, r in rows] for d in dims},
                [r[ix["TIME_PERIOD"]] for _, r in rows],
                _values(path, [r[ix["OBS_VALUE"]] for _, r in rows], lines, "OBS_VALUE"),
                _flags(path, [r[ix["OBS_FLAG"]] if "OBS_FLAG" in ix else "" for _, r in rows], lines, "OBS_FLAG"))
    updates = {r[ix["LAST UPDATE"]] for _, r in rows}
    flows = {r[ix["DATAFLOW"]] for _, r in rows}
    # The databrowser writes dd/mm/yy; keep the latest when a file mixes several.
    stamps = sorted(filter(None, (_iso_datetime(u, ("%d/%m/%y %H:%M:%S", "%d/%m/%y")) for u in updates)))
    df.attrs.update(path=str(path), dataflow=sorted(flows), vintage=stamps[-1] if stamps else None,
                    dataset=_dataset_from_flow(sorted(flows)[0]) if flows else _dataset_from_name(path))
    return df


# --------------------------------------------------------------------------------------------
# SDMX-CSV 2.0 (with or without labels)
# --------------------------------------------------------------------------------------------

def _read_sdmx_csv_2(path: Path, text: str) -> pd.DataFrame:
    header, rows = _rows(path, text)
    for col in ("TIME_PERIOD", "OBS_VALUE"):
        if col not in header:
            raise EurostatFileError(path, 1, f"SDMX-CSV without a {col} column")
    ix = {c: i for i, c in reversed(list(enumerate(header)))}
    # With labels=both every component column is followed by its label column; dimension ids
    # are lower-case, so a column that is neither an id nor a known attribute is a label.
    dims = [c for c in header[3:] if c not in _SDMX_NON_DIMS and _DIM_ID.match(c)]
    labels: dict[str, dict[str, str]] = {}
    for d in dims:
        j = ix[d] + 1
        if j < len(header) and header[j] not in _SDMX_NON_DIMS and not _DIM_ID.match(header[j]):
            labels[d] = dict(sorted({(r[ix[d]], r[j]) for _, r in rows}))
    lines = [ln for ln, _ in rows]
    flag_cells = [r[ix["OBS_FLAG"]] if "OBS_FLAG" in ix else "" for _, r in rows]
    if "CONF_STATUS" in ix:
        # The SDMX TSV writes the confidentiality status after the flags as "@C"; do the same so
        # that the two formats of one dataset give the same frame (tgs00042 has both).
        flag_cells = [f.strip() + (f"@{r[ix['CONF_STATUS']].strip()}" if r[ix["CONF_STATUS"]].strip() else "")
                      for f, (_, r) in zip(flag_cells, rows)]
    df = _frame({d: [r[ix[d]] for _, r in rows] for d in dims},
                [r[ix["TIME_PERIOD"]] for _, r in rows],
                _values(path, [r[ix["OBS_VALUE"]] for _, r in rows], lines, "OBS_VALUE"),
                _flags(path, flag_cells, lines, "OBS_FLAG"))
    structures = sorted({r[ix["STRUCTURE_ID"]] for _, r in rows})
    df.attrs.update(path=str(path), structure_id=structures, labels=labels,
                    dataset=_dataset_from_flow(structures[0]) if structures else _dataset_from_name(path))
    return df


# --------------------------------------------------------------------------------------------
# legacy databrowser export (*_1_Data.csv, with optional *_Label.csv)
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _label_table(path: str) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    dup = table[table.duplicated(["dimension", "label"], keep=False)]
    if not dup.empty:
        raise EurostatFileError(path, None, f"label mapped twice: {dup[['dimension', 'label']].values.tolist()}")
    return table


def label_maps(path: str | os.PathLike | None = None) -> dict[str, dict[str, str]]:
    """``{dimension: {label: code}}`` from the reviewed table (default ``data/eurostat/codelists/labels.csv``)."""
    path = Path(path) if path else data_dir() / "eurostat" / "codelists" / "labels.csv"
    table = _label_table(str(path))
    out: dict[str, dict[str, str]] = {}
    for dim, label, code in table[["dimension", "label", "code"]].itertuples(index=False):
        out.setdefault(dim, {})[label] = code
    return out


def read_label_file(path: str | os.PathLike) -> dict[str, str | None]:
    """LAST UPDATE and EXTRACTION DATE (ISO) from a legacy export's companion ``*_Label.csv``."""
    text = _text(path, read_bytes(path))
    out: dict[str, str | None] = {"last_update": None, "extraction_date": None, "title": None}
    for line in text.splitlines():
        s = line.strip().strip('"')
        for key, name in (("LAST UPDATE:", "last_update"), ("EXTRACTION DATE:", "extraction_date")):
            if s.startswith(key):
                out[name] = _iso_datetime(s[len(key):], ("%d.%m.%y %H:%M:%S", "%d.%m.%y"))
        if s.startswith("DATASET:"):
            out["title"] = s[len("DATASET:"):].strip()
    return out


def _read_legacy_csv(path: Path, text: str) -> pd.DataFrame:
    header, rows = _rows(path, text)
    vi = header.index("Value")
    fi = header.index("Flag and Footnotes") if "Flag and Footnotes" in header else None
    dim_cols = [c for i, c in enumerate(header) if i not in (vi, fi) and c != "TIME"]
    ti = header.index("TIME")
    lines = [ln for ln, _ in rows]
    maps = None
    dims: dict[str, list[str]] = {}
    unmapped: dict[str, set[str]] = {}
    labelled: list[str] = []
    for col in dim_cols:
        name = col.lower()
        cells = [r[header.index(col)] for _, r in rows]
        if all(_CODE.match(c) for c in set(cells)):
            dims[name] = cells
            continue
        maps = maps if maps is not None else label_maps()
        table = maps.get(name, {})
        missing = sorted(set(cells) - set(table))
        if missing:
            unmapped[name] = set(missing)
            continue
        dims[name] = [table[c] for c in cells]
        labelled.append(name)
    if unmapped:
        listing = "; ".join(f"{d}: {sorted(v)}" for d, v in unmapped.items())
        raise EurostatFileError(path, None, "labels with no code in data/eurostat/codelists/labels.csv "
                                f"(add them with evidence): {listing}")
    flag_cells = [r[fi] for _, r in rows] if fi is not None else [""] * len(rows)
    # Legacy exports order columns TIME, GEO, <others>; put geo last like the TSV formats do.
    order = [d for d in dims if d != "geo"] + (["geo"] if "geo" in dims else [])
    df = _frame({d: dims[d] for d in order}, [r[ti] for _, r in rows],
                _values(path, [r[vi] for _, r in rows], lines, "Value"),
                _flags(path, flag_cells, lines, "Flag and Footnotes"))
    df.attrs["path"] = str(path)
    df.attrs["labelled"] = labelled  # dimensions that were mapped from labels to codes
    companion = path.with_name(re.sub(r"_1_Data\.csv(\.gz)?$", "_Label.csv", path.name))
    if companion != path and companion.exists():
        meta = read_label_file(companion)
        df.attrs.update(vintage=meta["last_update"], extraction_date=meta["extraction_date"],
                        label_file=str(companion))
    return df


# --------------------------------------------------------------------------------------------
# derived extracts (not Eurostat formats; see PROVENANCE.md)
# --------------------------------------------------------------------------------------------

#: Nesta's column name -> the Eurostat filter Nesta applied to RD_E_GERDREG (PROVENANCE.md).
NESTA_COLUMNS = {
    "r&d_private_eur_hab": {"sectperf": "BES", "unit": "EUR_HAB"},
    "r&d_government_eur_hab": {"sectperf": "GOV", "unit": "EUR_HAB"},
}


def read_derived_extract(path: str | os.PathLike) -> pd.DataFrame:
    """Read one of the two derived (non-Eurostat-format) extracts in the mirror, labelled derived.

    * Nesta ``eurito_indicators`` subsets of ``rd_e_gerdreg`` (``year,nuts_id,nuts_year_spec,<indicator>``):
      returned with ``sectperf``, ``unit`` (the filter Nesta applied), ``geo``, ``nuts_year_spec``.
    * ``nuts2_population_gdp_2007_2018_from_tgs00096_tgs00003.csv``: returned long with ``dataset``
      (tgs00096 / tgs00003) and ``unit`` (NR persons / MIO_EUR).
    Values are not recomputed; ``attrs["derived"]`` is True and ``attrs["derived_from"]`` says what.
    """
    path = Path(path)
    text = _text(path, read_bytes(path))
    header, rows = _rows(path, text)
    fmt = detect_format(",".join(header))
    lines = [ln for ln, _ in rows]
    if fmt == "nesta_extract":
        indicator = header[3]
        if indicator not in NESTA_COLUMNS:
            raise EurostatFileError(path, 1, f"unknown Nesta indicator column {indicator!r}")
        fixed = NESTA_COLUMNS[indicator]
        n = len(rows)
        df = _frame({"sectperf": [fixed["sectperf"]] * n, "unit": [fixed["unit"]] * n,
                     "geo": [r[1] for _, r in rows], "nuts_year_spec": [r[2] for _, r in rows]},
                    [r[0] for _, r in rows], _values(path, [r[3] for _, r in rows], lines, indicator),
                    flag_categorical([None] * n))
        df.attrs.update(dataset="rd_e_gerdreg", derived_from=(
            "Nesta eurito_indicators: RD_E_GERDREG filtered to sectperf=%(sectperf)s, unit=%(unit)s, "
            "split by NUTS code length" % fixed))
    elif fmt == "tgs00096_extract":
        parts = []
        for col, ds, unit in ((2, "tgs00096", "NR"), (3, "tgs00003", "MIO_EUR")):
            n = len(rows)
            parts.append(_frame({"dataset": [ds] * n, "unit": [unit] * n, "geo": [r[0] for _, r in rows]},
                                [r[1] for _, r in rows],
                                _values(path, [r[col] for _, r in rows], lines, header[col]),
                                flag_categorical([None] * n)))
        df = pd.concat(parts, ignore_index=True)
        df["flag"] = flag_categorical([None] * len(df))
        df.attrs.update(dataset="tgs00096_tgs00003", derived_from=(
            "GeoJSON properties region_population (tgs00096) and region_gdp (tgs00003) of "
            "andrea-ballatore/open-geo-data-education, pulled with the R eurostat package"))
    else:
        raise EurostatFileError(path, 1, "not one of the known derived extracts")
    df.attrs.update(path=str(path), format=fmt, derived=True, vintage=None)
    return df
