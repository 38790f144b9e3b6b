"""Vectorised reader for Eurostat's tab-separated data files.

Two real layouts share one grammar and are both read by :func:`parse_tsv`:

* the SDMX 2.1 dissemination API's ``?format=TSV`` answer (2023-): header
  ``freq,sectperf,unit,geo\\TIME_PERIOD``, periods ascending, CRLF line endings on the wire;
* the retired bulk-download TSV (before Oct 2023): header ``unit,geo\\time``, periods descending.

Each data cell is ``value[ flags]`` with ``:`` for "not available", e.g. ``0.89 b``, ``: c``,
``896.3 p``, ``4.0 bu``. The file is wide (one column per period); we return it long and tidy.

Why not the ``eurostat`` package's parser: it loops over every cell in Python (``re.split`` and
``float()`` per cell), builds a list of tuples, keeps ``":"`` and ``""`` as flags and misaligns
columns when a cell lacks the value/flag separator (see the project's reference notes, A2).

Here no Python code runs per cell. The usual case (every cell is ``value<one space>flags``, as
Eurostat writes them) streams the text through arrow's CSV reader with that space turned into a
tab, so arrow splits value from flag and parses the numbers; batches are copied into arrays
allocated once. Anything irregular (odd spacing, bad cells, wrong field counts) falls back to a
general path built from pyarrow compute kernels over all cells, which also words the errors.
Python loops run over periods, dimensions and batches only.

Flag letters follow Eurostat's "Codes and flags" list
(https://ec.europa.eu/eurostat/data/database/information, "Symbols").
"""
from __future__ import annotations

import calendar
import gzip
import io
import os
import re
import zlib
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["CONF_STATUS", "FLAGS", "TSVFormatError", "decode_flags", "parse_tsv", "period_range",
           "period_freq", "in_period", "PERIOD_FREQS"]

#: Eurostat's observation flags, letter -> meaning. A cell may carry several (``bp``, ``bu``).
FLAGS: dict[str, str] = {
    "b": "break in time series",
    "c": "confidential",
    "d": "definition differs",
    "e": "estimated",
    "f": "forecast",
    "n": "not significant",
    "p": "provisional",
    "r": "revised",
    "s": "Eurostat estimate",
    "u": "low reliability",
    "z": "not applicable",
}

#: The SDMX 2.1 TSV appends the confidentiality status (SDMX CONF_STATUS) as ``@`` + a capital
#: letter, e.g. ``: @C`` in tgs00042 where the SDMX-CSV of the same table has CONF_STATUS=C.
CONF_STATUS: dict[str, str] = {
    "C": "confidential",
    "D": "secondary confidentiality",
    "F": "free (not confidential)",
    "N": "not for publication, restricted for internal use only",
    "S": "confidential at the request of the data provider",
}

_GZIP_MAGIC = b"\x1f\x8b"
_NON_SPACE = re.compile(rb"\S")
#: what a flag looks like: letters, optionally then the confidentiality status ("@C")
_FLAG_TEXT = re.compile(r"^(?:[a-z]+|[a-z]*@[A-Z])$")
_NUMBER_RE = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


#: SDMX frequency codes whose period labels :func:`period_range` understands.
PERIOD_FREQS = ("A", "S", "Q", "M", "W", "D")
# SDMX 2.1 spellings (2020, 2020-S1, 2020-Q1, 2020-01, 2020-W01, 2020-01-31) and the legacy bulk
# spellings (2020S1, 2020Q1, 2020M01, 2020W01, 2020M01D31); "2020-A1" is SDMX's long annual form.
_PERIOD_RE = re.compile(
    r"^(?P<y>\d{4})(?:"
    r"(?P<a>-A1)?"
    r"|-?S(?P<s>[12])"
    r"|-?Q(?P<q>[1-4])"
    r"|(?:-|M)(?P<m>\d{2})"
    r"|-?W(?P<w>\d{2})"
    r"|(?:-(?P<dm>\d{2})-|M(?P<lm>\d{2})D)(?P<d>\d{2})"
    r")$")


@lru_cache(maxsize=4096)
def _period(label: str) -> tuple[str, date, date] | None:
    m = _PERIOD_RE.match(label.strip())
    if m is None:
        return None
    y = int(m["y"])
    try:
        if m["s"]:
            h = int(m["s"])
            return "S", date(y, 6 * h - 5, 1), date(y, 6 * h, 30 if h == 1 else 31)
        if m["q"]:
            q = int(m["q"])
            last = 3 * q
            return "Q", date(y, last - 2, 1), date(y, last, calendar.monthrange(y, last)[1])
        if m["m"]:
            mo = int(m["m"])
            return "M", date(y, mo, 1), date(y, mo, calendar.monthrange(y, mo)[1])
        if m["w"]:
            first = date.fromisocalendar(y, int(m["w"]), 1)
            return "W", first, first + timedelta(days=6)
        if m["d"]:
            day = date(y, int(m["dm"] or m["lm"]), int(m["d"]))
            return "D", day, day
    except ValueError:  # month 13, week 54, 31 April ...
        return None
    return "A", date(y, 1, 1), date(y, 12, 31)


def period_range(label: str) -> tuple[date, date] | None:
    """First and last day of an SDMX period label, or None when it is not one.

    Understands every frequency Eurostat publishes (A ``2020``, S ``2020-S1``, Q ``2020-Q1``,
    M ``2020-01``, W ``2020-W01`` as ISO 8601 weeks, D ``2020-01-31``) and the retired bulk
    files' spellings (``2020S1``, ``2020Q1``, ``2020M01``, ``2020W01``, ``2020M01D31``).
    Reference: SDMX 2.1 Technical Notes, section 4.2 "Time period formats"; ISO 8601 weeks.
    """
    got = _period(label)
    return None if got is None else got[1:]


def period_freq(label: str) -> str | None:
    """The frequency code (A, S, Q, M, W, D) an SDMX period label is written in, or None."""
    got = _period(label)
    return None if got is None else got[0]


def in_period(label: str, start: str | None, end: str | None) -> bool:
    """Whether period ``label`` overlaps the span from ``start`` to ``end`` (either may be None).

    Periods compare as spans of days, not as text: ``start="2020-12"`` keeps the ISO weeks that
    reach into December 2020 (2020-W49 onwards) and ``end="2016"`` keeps 2016-Q4. A bound or
    label that is not a period raises ``ValueError``.
    """
    span = period_range(label)
    if span is None:
        raise ValueError(f"{label!r} is not a period")
    for bound, side in ((start, 0), (end, 1)):
        if bound is None:
            continue
        b = period_range(str(bound))
        if b is None:
            raise ValueError(f"{bound!r} is not a period (e.g. 2016, 2016-S1, 2016-Q1, 2016-03, "
                             "2016-W05, 2016-03-31)")
        if (side == 0 and span[1] < b[0]) or (side == 1 and span[0] > b[1]):
            return False
    return True


class TSVFormatError(ValueError):
    """The bytes are not a well-formed Eurostat TSV; the message names source, row and reason."""


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _to_text_bytes(data: bytes | str, source: str | None) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:  # truncated or corrupt stream
            raise TSVFormatError(f"{_where(source)}gzip stream is truncated or corrupt ({exc})") from exc
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return data


def _split_header(first_line: str, source: str | None) -> tuple[list[str], list[str]]:
    fields = first_line.rstrip("\r\n").split("\t")
    key = fields[0]
    if "\\" not in key:
        raise TSVFormatError(
            f"{_where(source)}row 1: header {key[:80]!r} is not an Eurostat TSV header "
            "(expected e.g. 'freq,unit,geo\\TIME_PERIOD')")
    dims = [d.strip().lower() for d in key.split("\\", 1)[0].split(",")]
    periods = [p.strip() for p in fields[1:]]
    if "time" in dims:
        raise TSVFormatError(f"{_where(source)}row 1: a dimension is called 'time', which clashes "
                             "with the period column")
    if any(not p for p in periods) or len(set(periods)) != len(periods):
        raise TSVFormatError(f"{_where(source)}row 1: empty or repeated period column in header")
    bad = [p for p in periods if _period(p) is None]
    if bad:
        raise TSVFormatError(f"{_where(source)}row 1: header column {bad[0]!r} is not a period "
                             "(e.g. 2016, 2016-Q1, 2016-03, 2016-W05, 2016M03)")
    return dims, periods


def _first_bad_line(text: bytes, n_fields: int) -> tuple[int, str]:
    """Error path only: find the first line whose field count is wrong (1-based line number)."""
    for number, line in enumerate(io.BytesIO(text), start=1):
        line = line.rstrip(b"\r\n")
        if line and line.count(b"\t") + 1 != n_fields:
            return number, line.decode("utf-8", "replace")
    return 0, ""


def _empty_frame(dims: list[str], flags: bool) -> pd.DataFrame:
    cols: dict[str, object] = {d: pd.Categorical([]) for d in dims}
    cols["time"] = pd.Categorical([])
    cols["value"] = np.array([], dtype="float64")
    if flags:
        cols["flag"] = pd.Categorical([])
    return pd.DataFrame(cols)


def parse_tsv(data: bytes | str | os.PathLike, *, flags: bool = True,
              source: str | None = None) -> pd.DataFrame:
    """Parse an Eurostat SDMX 2.1 TSV or old bulk TSV (gzip or plain, CRLF or LF) to a long frame.

    Returns one row per cell, series by series, periods ascending within a series:

    * one categorical column per dimension, named by the lower-case ids in the header;
    * ``time``: the period as written in the file ("2016", "2016-Q1"), categorical, ascending;
    * ``value``: float64, NaN where the file has ``:``;
    * ``flag`` (when ``flags``): categorical of Eurostat's letters ("p", "bp", ...), NA when none;
      the SDMX TSV's confidentiality status is kept as written ("@C"); see :func:`decode_flags`.

    ``data`` is the file's content (bytes, or text as str) or a path (``pathlib.Path``) to read it
    from in a stream, which keeps a large download out of memory. ``source`` (a file name or
    URL) only makes error messages say where the bad input came from.
    Raises :class:`TSVFormatError` naming the row and the reason for any malformed input: a
    header that is not UTF-8 or has a column that is not a period (:func:`period_range`), a row
    with the wrong number of fields or key codes, a cell that is not a number or ``:`` followed
    by flags (``1 234`` is refused, not read as 1 flagged ``234``), a series key sent twice.
    """
    if isinstance(data, os.PathLike):
        raw: bytes | Path = Path(data)
        source = source or str(raw)
    else:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        with _open_text(raw) as stream:
            first = stream.readline()
    except (EOFError, OSError, zlib.error) as exc:
        raise TSVFormatError(f"{_where(source)}gzip stream is truncated or corrupt ({exc})") from exc
    try:
        first = first.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TSVFormatError(f"{_where(source)}row 1: header is not UTF-8 ({exc.reason} at byte "
                             f"{exc.start}: {first[max(0, exc.start - 20):exc.end + 5]!r})") from exc
    if not first.strip():
        raise TSVFormatError(f"{_where(source)}empty body: no header row")
    dims, periods = _split_header(first, source)

    order = sorted(range(len(periods)), key=lambda j: periods[j])  # ascending, bulk TSV is descending
    try:
        key_codes, values, flag_codes, vocab = _cells_fast(raw, len(dims), len(periods), order, flags)
    except _NotSimple:
        # the general path needs the text whole; it also words the errors
        text = _to_text_bytes(raw.read_bytes() if isinstance(raw, Path) else raw, source)
        newline = text.find(b"\n")
        if newline < 0 or not _NON_SPACE.search(text, newline + 1):
            return _empty_frame(dims, flags)
        key_codes, values, flag_codes, vocab = _cells_general(text, dims, periods, order, flags, source)
    n_rows, n_per = len(values), len(periods)
    _check_unique_keys(key_codes, dims, source)

    out: dict[str, object] = {}
    for dim, (row_codes, categories) in zip(dims, key_codes):
        small = np.int8 if len(categories) < 128 else np.int16 if len(categories) < 32768 else np.int32
        out[dim] = pd.Categorical.from_codes(np.repeat(row_codes.astype(small), n_per),
                                             categories=pd.Index(categories, dtype=object))
    out["time"] = pd.Categorical.from_codes(
        np.tile(np.arange(n_per, dtype=np.int8 if n_per < 128 else np.int32), n_rows),
        categories=pd.Index([periods[j] for j in order], dtype=object), ordered=True)
    out["value"] = values.ravel()  # rows x periods, row-major: one series after another
    if flags:
        # sorted categories, so the same flags give the same categorical in every file
        codes = np.ascontiguousarray(flag_codes).ravel()
        order_of = {f: i for i, f in enumerate(sorted(vocab))}
        if any(order_of[f] != i for i, f in enumerate(vocab)):
            # relabel with one mask per flag: a lookup-table index would first copy the 10 M
            # int8 codes to int64 (80 MB for 10 M cells)
            sorted_codes = np.full_like(codes, -1)
            for i, f in enumerate(vocab):
                sorted_codes[codes == i] = order_of[f]
            codes = sorted_codes
        out["flag"] = pd.Categorical.from_codes(codes, categories=pd.Index(sorted(vocab), dtype=object))
    return pd.DataFrame(out, copy=False)


def _check_unique_keys(key_codes: list[tuple[np.ndarray, list[str]]], dims: list[str],
                       source: str | None) -> None:
    """A series key may appear once: a repeated row would double its observations."""
    if not key_codes or not len(key_codes[0][0]):
        return
    sizes = [max(len(cats), 1) for _, cats in key_codes]
    if float(np.prod(sizes, dtype=float)) < 2.0 ** 62:
        combined = np.zeros(len(key_codes[0][0]), dtype=np.int64)
        for (codes, _), size in zip(key_codes, sizes):
            combined = combined * size + codes
        uniq, first, counts = np.unique(combined, return_index=True, return_counts=True)
        dup = counts > 1
        if not dup.any():
            return
        row = int(first[dup][0])
    else:  # too many combinations to pack in 64 bits: compare whole code rows
        stacked = np.stack([c for c, _ in key_codes], axis=1)
        uniq, first, counts = np.unique(stacked, axis=0, return_index=True, return_counts=True)
        if not (counts > 1).any():
            return
        row = int(first[counts > 1][0])
    key = ",".join(cats[codes[row]] for codes, cats in key_codes)
    raise TSVFormatError(f"{_where(source)}series key {key!r} ({','.join(dims)}) appears in more "
                         f"than one row (first at row {row + 2}); each series must be sent once")


def _head(raw: bytes | Path, n: int) -> bytes:
    if isinstance(raw, Path):
        with open(raw, "rb") as fh:
            return fh.read(n)
    return raw[:n]


def _tail(raw: bytes | Path, n: int) -> bytes:
    if isinstance(raw, Path):
        with open(raw, "rb") as fh:
            fh.seek(max(0, raw.stat().st_size - n))
            return fh.read()
    return raw[-n:]


def _size(raw: bytes | Path) -> int:
    return raw.stat().st_size if isinstance(raw, Path) else len(raw)


def _open_text(raw: bytes | Path) -> io.BufferedIOBase:
    # gzip is decompressed block by block as arrow reads, never all at once
    gz = _head(raw, 2) == _GZIP_MAGIC
    if isinstance(raw, Path):
        return gzip.GzipFile(raw, "rb") if gz else open(raw, "rb")
    return gzip.GzipFile(fileobj=io.BytesIO(raw)) if gz else io.BytesIO(raw)


class _SpacesToTabs(io.RawIOBase):
    """Read-only view of a byte stream with every space turned into a tab, block by block."""

    def __init__(self, stream: io.BufferedIOBase):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size).replace(b" ", b"\t")

    def readinto(self, buffer) -> int:
        block = self.read(len(buffer))
        buffer[: len(block)] = block
        return len(block)


class _KeyEncoder:
    """Dimension codes of each row, encoded batch by batch against one vocabulary per dimension
    (so the comma-joined keys never need to be held, or split, all at once)."""

    def __init__(self, n_dims: int):
        self.vocabs: list[dict[str, int]] = [{} for _ in range(n_dims)]
        self.chunks: list[list[np.ndarray]] = [[] for _ in range(n_dims)]

    def add(self, keys: pa.Array) -> int | None:
        """Encode a batch of keys; return the batch row of the first key with a wrong code count."""
        parts = pc.split_pattern(pc.utf8_trim_whitespace(keys), ",")
        n_parts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(n_parts != len(self.vocabs))
        if bad.size:
            return int(bad[0])
        for i, vocab in enumerate(self.vocabs):
            enc = pc.dictionary_encode(pc.list_element(parts, i))
            lut = np.array([vocab.setdefault(c, len(vocab)) for c in enc.dictionary.to_pylist()],
                           dtype=np.int32)
            self.chunks[i].append(lut[enc.indices.to_numpy(zero_copy_only=False)])
        return None

    def result(self) -> list[tuple[np.ndarray, list[str]]]:
        return [(np.concatenate(c) if c else np.empty(0, np.int32), list(v))
                for c, v in zip(self.chunks, self.vocabs)]


class _NotSimple(Exception):
    """The fast path does not apply; use the general one (which also words the errors)."""


def _flag_codes(chunked: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Dictionary codes (-1 for no flag: null or "") and the vocabulary of a string column."""
    enc = pc.dictionary_encode(chunked).unify_dictionaries()
    if enc.num_chunks == 0:
        return np.empty(0, dtype=np.int32), []
    vocab = enc.chunk(0).dictionary.to_pylist()
    codes = np.concatenate([c.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
                            for c in enc.chunks])
    if "" in vocab:  # "no flag" is NA, not an empty string
        blank = vocab.index("")
        codes = np.where(codes == blank, -1, codes - (codes > blank))
        vocab = vocab[:blank] + vocab[blank + 1:]
    return codes, vocab


def _count_lines(raw: bytes | Path) -> int:
    """Lines after the header (a full pass over the stream)."""
    n, last = 0, b""
    with _open_text(raw) as stream:
        while block := stream.read(1 << 22):
            n += block.count(b"\n")
            last = block[-1:]
    return n - 1 + (1 if last and last != b"\n" else 0)


def _row_capacity(raw: bytes | Path, n_per: int) -> int:
    """An upper bound on the data rows, so the output arrays can be allocated once.

    A row has at least 2 bytes per field (one character and a separator), so the text size bounds
    the rows. Gzip records the text size in its last 4 bytes (ISIZE); when that is implausible
    (a truncated or multi-member stream, or over 4 GB) count the lines instead. Over-allocating
    costs address space only: ``np.empty`` pages that are never written take no memory.
    """
    if _head(raw, 2) == _GZIP_MAGIC:
        size = int.from_bytes(_tail(raw, 4), "little")
        if not 0 < size <= 200 * _size(raw):
            return _count_lines(raw)
    else:
        size = _size(raw)
    return size // (2 * n_per + 2) + 1


def _cells_fast(raw: bytes | Path, n_dims: int, n_per: int, order: list[int], flags: bool):
    """Every cell is ``value<one space>flags`` (what Eurostat writes): with that space turned into
    a tab, arrow's CSV reader splits value from flag and parses the numbers itself.

    The text is streamed (decompressed, spaces turned into tabs, parsed) batch by batch into
    output arrays allocated once, so the decompressed text and the parsed table never exist
    whole: this keeps peak memory near the size of the result.

    A cell with no space or two spaces would shift the fields of its row; such a shift puts a
    number or ``:`` into a flag column or a flag into a value column, so it is detected below
    and the general path reads the file instead. Any other failure also goes to the general path,
    which then words the error.
    """
    names = ["key"] + [f"{kind}{j}" for j in range(n_per) for kind in ("v", "f")]
    types = {"key": pa.string()}
    types.update({f"v{j}": pa.float64() for j in range(n_per)})
    types.update({f"f{j}": pa.string() for j in range(n_per)})
    try:
        capacity = _row_capacity(raw, n_per)
        stream = _open_text(raw)
        stream.readline()  # header, already parsed
        reader = pacsv.open_csv(
            _SpacesToTabs(stream),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 21),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
            # ":" and "" are missing numbers; string columns (key, flags) are never null
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[":", ""], strings_can_be_null=False),
        )
        values = np.empty((capacity, n_per), dtype=np.float64)
        codes = np.empty((capacity, n_per), dtype=np.int8)  # every cell is written below
        vocab: dict[str, int] = {}
        key_encoder = _KeyEncoder(n_dims)
        pos = 0
        for batch in reader:
            size = batch.num_rows
            if pos + size > capacity:
                raise _NotSimple
            rows = slice(pos, pos + size)
            for k, j in enumerate(order):
                col = batch.column(f"v{j}")
                values[rows, k] = col.to_numpy(zero_copy_only=False)
                # arrow also reads "nan"/"inf", which Eurostat never writes: the general path judges
                block = values[rows, k]
                if int(np.isnan(block).sum()) != col.null_count or np.isinf(block).any():
                    raise _NotSimple
                enc = pc.dictionary_encode(batch.column(f"f{j}"))
                local = enc.dictionary.to_pylist()
                if not all(not f or _FLAG_TEXT.match(f) for f in local):
                    raise _NotSimple
                # local code -> global code; "" (no flag) -> -1
                lut = np.array([vocab.setdefault(f, len(vocab)) if f else -1 for f in local] or [-1],
                               dtype=np.int16)
                if len(vocab) > 127:
                    raise _NotSimple  # absurd for Eurostat flags; the general path copes
                codes[rows, k] = lut[enc.indices.to_numpy(zero_copy_only=False)]
            if key_encoder.add(batch.column("key")) is not None:
                raise _NotSimple  # a key with the wrong number of codes: the general path says where
            pos += size
    except _NotSimple:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure: the general path decides and explains
        raise _NotSimple from exc
    finally:
        if "stream" in locals():
            stream.close()
    if pos == 0:
        raise _NotSimple
    del batch, reader
    # hand the parse buffers back before the frame is built, so they do not add to the peak
    pa.default_memory_pool().release_unused()
    values, codes = values[:pos], codes[:pos]
    if not flags:
        return key_encoder.result(), values, None, []
    return key_encoder.result(), values, codes, list(vocab)


def _cells_general(text: bytes, dims: list[str], periods: list[str], order: list[int],
                   flags: bool, source: str | None):
    """Any spacing inside cells; precise errors (row, period, cell) for malformed input."""
    n_per = len(periods)
    names = ["key"] + [f"c{i}" for i in range(n_per)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(text),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        number, line = _first_bad_line(text, 1 + n_per)
        if number:
            raise TSVFormatError(
                f"{_where(source)}row {number}: expected {1 + n_per} tab-separated fields "
                f"(key + {n_per} periods), got {line.count(chr(9)) + 1}: {line[:120]!r}") from exc
        raise TSVFormatError(f"{_where(source)}unreadable TSV body ({exc})") from exc
    n_rows = table.num_rows
    keys = table.column("key").combine_chunks()
    key_encoder = _KeyEncoder(len(dims))
    bad = key_encoder.add(keys)
    if bad is not None:
        n_codes = len(keys[bad].as_py().strip().split(","))
        raise TSVFormatError(
            f"{_where(source)}row {bad + 2}: key {keys[bad].as_py()[:80]!r} has {n_codes} codes, "
            f"header names {len(dims)} dimensions ({', '.join(dims)})")
    cells = pa.chunked_array(
        [chunk for j in order for chunk in table.column(names[1 + j]).chunks], type=pa.string())
    # split once at the first space; appending a space first guarantees two parts even when a
    # writer dropped the trailing space ("0.5" rather than "0.5 ")
    halves = pc.split_pattern(pc.binary_join_element_wise(pc.utf8_trim(cells, " "), " ", ""), " ",
                              max_splits=1)
    raw_value = pc.utf8_trim(pc.list_element(halves, 0), " ")
    raw_flag = pc.utf8_trim(pc.list_element(halves, 1), " ")
    # "0n" is the old bulk files' spelling of "not significant" with no value (as rOpenGov reads it)
    is_0n = pc.equal(raw_value, "0n")
    missing = pc.or_(pc.or_(pc.equal(raw_value, ":"), pc.equal(raw_value, "")), is_0n)
    if pc.any(is_0n).as_py():
        raw_flag = pc.if_else(is_0n, pc.binary_join_element_wise("n", raw_flag, ""), raw_flag)
    ok = pc.or_kleene(missing, pc.match_substring_regex(raw_value, _NUMBER_RE))
    if not pc.all(ok).as_py():
        k = int(np.flatnonzero(~ok.to_numpy(zero_copy_only=False))[0])
        j, r = order[k // n_rows], k % n_rows
        raise TSVFormatError(
            f"{_where(source)}row {r + 2}, period {periods[j]!r} (key "
            f"{keys[r].as_py()!r}): cell {cells[k].as_py()!r} is not a number, ':' or a flagged value")
    flag_ok = pc.match_substring_regex(raw_flag, r"^(?:[a-z]*(?:@[A-Z])?)$")
    if not pc.all(flag_ok).as_py():
        k = int(np.flatnonzero(~flag_ok.to_numpy(zero_copy_only=False))[0])
        j, r = order[k // n_rows], k % n_rows
        raise TSVFormatError(
            f"{_where(source)}row {r + 2}, period {periods[j]!r} (key {keys[r].as_py()!r}): cell "
            f"{cells[k].as_py()!r}: {raw_flag[k].as_py()!r} after the value is not a Eurostat flag "
            "(lower-case letters, optionally @ and a confidentiality letter); a space inside a "
            "number is not allowed")
    numeric_text = pc.if_else(missing, pa.scalar(None, pa.string()), raw_value)
    values = pc.cast(numeric_text, pa.float64()).to_numpy(zero_copy_only=False)
    # cells are period-major (all rows of period 1, then period 2...); make them series-major
    values = values.reshape(n_per, n_rows).T
    if not flags:
        return key_encoder.result(), values, None, []
    codes, vocab = _flag_codes(raw_flag)
    return key_encoder.result(), values, codes.reshape(n_per, n_rows).T, vocab


def _meaning(flag: str) -> str:
    status = None
    if "@" in flag:
        flag, status = flag.split("@", 1)
    out = [FLAGS.get(letter, f"unknown flag {letter!r}") for letter in flag if letter.strip()]
    if status is not None:
        out.append(CONF_STATUS.get(status.strip(), f"unknown confidentiality status {status!r}"))
    return "; ".join(out)


def decode_flags(series: pd.Series) -> pd.Series:
    """Spell out Eurostat flags: ``"bp"`` -> ``"break in time series; provisional"``; NA stays NA.

    ``"@C"`` (the TSV's confidentiality status) becomes ``"confidential"``. Decodes each distinct
    flag once, not each cell, so it is cheap on millions of rows.
    """
    distinct = pd.unique(series.dropna().astype(str))
    lookup = {flag: _meaning(flag) for flag in distinct}
    return series.astype(object).map(lookup).astype("string").rename(series.name)
