"""Eurostat datasets as tidy long frames: one request per query, a verified cache, offline and mirror.

    >>> from clusterstats import get_eurostat
    >>> df = get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]}, start="2013")
    >>> df.attrs["source"], df.attrs["sha256"]

Where an answer comes from, in order:

1. ``CLUSTERSTATS_MIRROR=DIR`` set: only recorded files ``DIR/eurostat/<code>/*`` (read with
   :func:`clusterstats.formats.read_eurostat_file`), filtered locally; no cache, no network.
2. the cache (:mod:`clusterstats.cache`), unless ``refresh=True``;
3. the live SDMX 2.1 dissemination API (base URL overridable with ``CLUSTERSTATS_EUROSTAT_URL``),
   never when ``CLUSTERSTATS_OFFLINE=1``.

How this differs from the ``eurostat`` package (1.1.1), whose endpoint and structure requests we
reuse (see the project's reference notes A2): a multi-valued filter is one request (``BG31+BG41``
in the SDMX key) instead of one per combination; key positions follow the DSD's numeric
``position`` (the package sorts positions as strings, which breaks with >= 10 dimensions); retries
back off exponentially and honour ``Retry-After``; async answers are polled with sleeps and a
bound; a bad response (HTML page, empty or truncated body, malformed row) is an error that names
the dataset and URL and never reaches the cache; flags are kept with filters. The body is streamed
to a temporary file and parsed from there, so a large answer is never held in memory twice.

Eurostat API reference: "API - Detailed guidelines - SDMX2.1" and "... - Asynchronous API"
(https://wikis.ec.europa.eu/display/EUROSTATHELP/API+-+Detailed+guidelines).
"""
from __future__ import annotations

import contextlib
import email.utils
import json
import os
import sys
import tempfile
import time
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd
import requests

from .cache import Cache, Query
from .provenance import sha256_file
from .sdmx_tsv import TSVFormatError, parse_tsv

__all__ = [
    "DEFAULT_BASE_URL", "EurostatError", "EurostatHTTPError", "EurostatResponseError",
    "QueryTooLargeError", "NoResultsError", "OfflineError", "UnknownFilterError", "MirrorCoverageError",
    "Structure", "Settings", "settings", "get_eurostat", "get_structure", "build_key",
]

DEFAULT_BASE_URL = "https://ec.europa.eu/eurostat/api/dissemination/sdmx/2.1"
AGENCY = "ESTAT"
#: Eurostat refuses extractions above this many cells with HTTP 413 (EXTRACTION_TOO_BIG).
MAX_CELLS = 5_000_000

_NS = {
    "m": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message",
    "s": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure",
    "c": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
}


# --------------------------------------------------------------------------- errors and settings
class EurostatError(RuntimeError):
    """Anything that stops a Eurostat query; the message names the dataset and the URL."""


class EurostatHTTPError(EurostatError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class EurostatResponseError(EurostatError):
    """Status 200 but the body is not usable data (HTML page, empty, truncated, malformed)."""


class NoResultsError(EurostatHTTPError):
    """HTTP 404 "No results found": the filters and period select no observations."""


class QueryTooLargeError(EurostatHTTPError):
    """HTTP 413: the query asks for more than Eurostat's 5,000,000-cell limit."""


class OfflineError(EurostatError):
    """``CLUSTERSTATS_OFFLINE=1`` and the query is not in the cache."""


class UnknownFilterError(EurostatError, ValueError):
    """A filter names a dimension or code the dataset does not have."""


class MirrorCoverageError(EurostatError):
    """No recorded file in the mirror covers the query."""


@dataclass
class Settings:
    """Client behaviour; change the module-level :data:`settings` (tests make waits tiny)."""

    timeout: float = 120.0      #: seconds to wait for the server to start/continue answering
    retries: int = 5            #: extra attempts after a 429, 5xx, timeout or dropped connection
    backoff: float = 2.0        #: first wait in seconds; doubled after each failed attempt
    max_wait: float = 300.0     #: cap on any single wait, including a server's Retry-After
    poll_interval: float = 10.0  #: seconds between polls of an async (queued) extraction
    max_polls: int = 90         #: give up on an async extraction after this many polls
    progress: bool | None = None  #: tqdm bar for downloads; None = only when stderr is a TTY


settings = Settings()
_sleep = time.sleep  # one place to wait, so tests can record waits instead of sleeping


def base_url() -> str:
    return os.environ.get("CLUSTERSTATS_EUROSTAT_URL", DEFAULT_BASE_URL).rstrip("/")


def _async_base(base: str) -> str:
    # .../dissemination/sdmx/2.1 -> .../dissemination/1.0/async (as in the eurostat package)
    root = base[: -len("/sdmx/2.1")] if base.endswith("/sdmx/2.1") else base
    return root + "/1.0/async"


def _offline() -> bool:
    return os.environ.get("CLUSTERSTATS_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- HTTP with retries
@dataclass
class _Response:
    url: str
    content: bytes | None  # None when a large body went to ``path`` only
    headers: Mapping[str, str]
    path: Path | None = None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds()) if when else None


def _download(resp: requests.Response, show: bool, sink: Path | None) -> bytes | None:
    """The body, in memory or (``sink``) streamed to a file so a big download is never held."""
    if sink is None and not show:
        return resp.content
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(resp.headers.get("Content-Length") or 0) or None, unit="B",
                   unit_scale=True, desc="Eurostat", file=sys.stderr)
    chunks: list[bytes] = []
    try:
        with open(sink, "wb") if sink is not None else contextlib.nullcontext() as fh:
            for chunk in resp.iter_content(1 << 16):
                if fh is not None:
                    fh.write(chunk)
                else:
                    chunks.append(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return None if sink is not None else b"".join(chunks)


def _get(url: str, *, dataset: str, size_note: str = "", progress: bool | None = None,
         sink: Path | None = None) -> _Response:
    """GET with bounded exponential backoff on 429/5xx/timeouts; other failures raise at once.

    With ``sink`` the body is streamed to that file; ``content`` is then loaded only when small
    (async tickets, error pages), else None.
    """
    show = progress if progress is not None else (
        settings.progress if settings.progress is not None else sys.stderr.isatty())
    last = "no attempt"
    for attempt in range(settings.retries + 1):
        wait = min(settings.backoff * 2 ** attempt, settings.max_wait)
        try:
            resp = requests.get(url, timeout=settings.timeout, stream=True)
            try:
                if resp.status_code == 200:
                    content = _download(resp, show, sink)
                    if sink is not None and sink.stat().st_size <= 1 << 16:
                        content = sink.read_bytes()
                    return _Response(url, content, resp.headers, sink)
                body = resp.content[:500].decode("utf-8", "replace")
            finally:
                resp.close()
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            status = resp.status_code
            last = f"HTTP {status}"
            if status == 429:
                hinted = _retry_after(resp.headers.get("Retry-After"))
                wait = min(hinted, settings.max_wait) if hinted is not None else wait
            elif status == 413:
                raise QueryTooLargeError(
                    f"Eurostat refused {dataset!r} as too large (HTTP 413, limit {MAX_CELLS:,} "
                    f"cells). {size_note}Add filters (fewer geo/unit codes or a start/end period) "
                    f"and retry. URL: {url}. Server said: {body.strip()[:200]}", status)
            elif status == 404 and "no result" in body.lower():
                raise NoResultsError(
                    f"Eurostat found no data for {dataset!r} with this query ({url}): {body.strip()[:200]}",
                    status)
            elif status < 500:
                raise EurostatHTTPError(
                    f"Eurostat answered HTTP {status} for {dataset!r} ({url}): {body.strip()[:300]}",
                    status)
        if attempt < settings.retries:
            _sleep(wait)
    raise EurostatHTTPError(
        f"Eurostat did not answer {dataset!r} after {settings.retries + 1} attempts "
        f"(last: {last}). URL: {url}")


# --------------------------------------------------------------------------- async extractions
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _async_ticket(content: bytes) -> tuple[str, str] | None:
    """(key, status) when the body says the extraction was queued, else None."""
    head = content[:4096].lstrip()
    if head.startswith(b"{"):
        try:
            obj = json.loads(content)
        except ValueError:
            return None
        if isinstance(obj, dict) and "status" in obj and ("key" in obj or "id" in obj):
            return str(obj.get("key") or obj.get("id")), str(obj["status"])
        return None
    if not head.startswith(b"<") or (b"syncResponse" not in content and b"asyncResponse" not in content):
        return None
    try:
        root = ET.fromstring(content)
    except ET.ParseError:
        return None
    key = status = None
    for el in root.iter():
        name = _local(el.tag)
        if name in ("id", "key") and el.text:
            key = el.text.strip()
        elif name == "status" and el.text and el.text.strip() and len(el) == 0:
            status = el.text.strip()
    return (key, status) if key and status else None


def _resolve_async(resp: _Response, *, dataset: str, base: str, progress: bool | None,
                   sink: Path | None = None) -> _Response:
    ticket = None if resp.content is None else _async_ticket(resp.content)
    if ticket is None:
        return resp
    key, status = ticket
    status_url = f"{_async_base(base)}/status/{key}"
    for _ in range(settings.max_polls):
        if status == "AVAILABLE":
            return _get(f"{_async_base(base)}/data/{key}", dataset=dataset, progress=progress,
                        sink=sink)
        if status not in ("SUBMITTED", "PROCESSING"):
            raise EurostatError(f"Eurostat's queued extraction of {dataset!r} ended with status "
                                f"{status!r} (key {key}; request {resp.url})")
        _sleep(settings.poll_interval)
        polled = _async_ticket(_get(status_url, dataset=dataset, progress=False).content)
        if polled is None:
            raise EurostatResponseError(f"unreadable async status for {dataset!r} from {status_url}")
        status = polled[1]
    raise EurostatError(
        f"Eurostat's queued extraction of {dataset!r} was not ready after {settings.max_polls} polls "
        f"every {settings.poll_interval:g}s (key {key}). Retry later; request {resp.url}")


# --------------------------------------------------------------------------- structure (DSD)
@dataclass(frozen=True)
class Structure:
    """What the client needs from a dataset's SDMX structure."""

    dataset: str
    dsd_id: str
    dimensions: tuple[str, ...]          # ids in DSD position order (numeric), time excluded
    last_update: str | None = None       # dataflow annotation UPDATE_DATA
    values: Mapping[str, tuple[str, ...]] | None = None  # from the content constraint, if known
    periods: tuple[str, ...] | None = None


def _xml(content: bytes, what: str, dataset: str, url: str) -> ET.Element:
    try:
        return ET.fromstring(content)
    except ET.ParseError as exc:
        raise EurostatResponseError(f"{what} for {dataset!r} is not SDMX-ML ({exc}); URL {url}") from exc


def _parse_dataflow(content: bytes, dataset: str, url: str) -> tuple[str, str | None]:
    root = _xml(content, "dataflow", dataset, url)
    flow = root.find("m:Structures/s:Dataflows/s:Dataflow", _NS)
    ref = None if flow is None else flow.find("s:Structure/Ref", _NS)
    if ref is None or not ref.get("id"):
        raise EurostatResponseError(f"dataflow for {dataset!r} names no data structure; URL {url}")
    last_update = None
    for ann in flow.iterfind("c:Annotations/c:Annotation", _NS):
        if (ann.findtext("c:AnnotationType", "", _NS) or "").strip() == "UPDATE_DATA":
            last_update = (ann.findtext("c:AnnotationTitle", None, _NS)
                           or ann.findtext("c:AnnotationText", None, _NS))
    return ref.get("id"), last_update


def _parse_dsd(content: bytes, dataset: str, url: str) -> tuple[str, ...]:
    root = _xml(content, "data structure", dataset, url)
    dims = root.findall("m:Structures/s:DataStructures/s:DataStructure/s:DataStructureComponents/"
                        "s:DimensionList/s:Dimension", _NS)
    if not dims:
        raise EurostatResponseError(f"data structure for {dataset!r} lists no dimensions; URL {url}")
    # numeric order: the eurostat package sorts positions as strings ("10" < "2")
    dims = sorted(dims, key=lambda d: int(d.get("position") or 0))
    return tuple(d.get("id").lower() for d in dims)


def _parse_constraint(content: bytes) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...] | None]:
    root = ET.fromstring(content)
    values: dict[str, tuple[str, ...]] = {}
    periods = None
    for kv in root.iter(f"{{{_NS['c']}}}KeyValue"):
        codes = tuple(v.text for v in kv.iterfind("c:Value", _NS) if v.text)
        if kv.get("id", "").upper() == "TIME_PERIOD":
            periods = codes
        else:
            values[kv.get("id", "").lower()] = codes
    return values, periods


def _structure_bytes(kind: str, dataset: str, url: str, cache: Cache, refresh: bool,
                     validate, pending: list | None) -> bytes | None:
    query = Query(dataset=dataset, format=kind)
    entry = None if refresh else cache.get(query)
    if entry is not None:
        return entry.read()
    if _offline():
        return None
    content = _get(url, dataset=dataset, progress=False).content
    validate(content)
    if pending is None:
        cache.put(query, content, url=url, retrieved_at=_now())
    else:  # written only once the data request has succeeded too
        pending.append((query, content, url))
    return content


def get_structure(dataset: str, *, refresh: bool = False, cache: Cache | None = None,
                  _pending: list | None = None) -> Structure:
    """Dimension order (and, when the service gives it, valid codes) for ``dataset``; cached.

    Uses the same requests as the ``eurostat`` package: ``dataflow/ESTAT/<code>/latest`` then
    ``datastructure/ESTAT/<dsd>/latest``; valid codes come from ``contentconstraint/ESTAT/<code>``.
    """
    cache = cache or Cache()
    base, code = base_url(), dataset.upper()
    df_url = f"{base}/dataflow/{AGENCY}/{code}/latest"
    try:
        flow = _structure_bytes("dataflow", dataset, df_url, cache, refresh,
                                lambda b: _parse_dataflow(b, dataset, df_url), _pending)
    except EurostatHTTPError as exc:
        if exc.status == 404:
            raise EurostatHTTPError(f"Eurostat has no dataset {dataset!r} (agency {AGENCY}); "
                                    f"check the code in the Eurostat data browser. {exc}", 404) from exc
        raise
    if flow is None:
        raise OfflineError(
            f"offline (CLUSTERSTATS_OFFLINE=1) and the structure of {dataset!r} is not cached "
            f"(dataflow {df_url}). Run the same get_eurostat call once online to cache it.")
    dsd_id, last_update = _parse_dataflow(flow, dataset, df_url)
    dsd_url = f"{base}/datastructure/{AGENCY}/{dsd_id}/latest"
    dsd = _structure_bytes("datastructure", dataset, dsd_url, cache, refresh,
                           lambda b: _parse_dsd(b, dataset, dsd_url), _pending)
    if dsd is None:
        raise OfflineError(f"offline and the data structure {dsd_id} of {dataset!r} is not cached "
                           f"({dsd_url}). Run the same get_eurostat call once online to cache it.")
    dims = _parse_dsd(dsd, dataset, dsd_url)
    values = periods = None
    cc_url = f"{base}/contentconstraint/{AGENCY}/{code}"
    try:  # optional: only used to validate filters and size 413 messages
        cc = _structure_bytes("contentconstraint", dataset, cc_url, cache, refresh,
                              _parse_constraint, _pending)
        if cc is not None:
            values, periods = _parse_constraint(cc)
    except (EurostatError, ET.ParseError):
        pass
    return Structure(dataset, dsd_id, dims, last_update, values, periods)


# --------------------------------------------------------------------------- filters and key
def _normalise_filters(filters: Mapping[str, object] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for dim, val in (filters or {}).items():
        name = str(dim).lower()
        if name in ("time", "time_period", "startperiod", "endperiod"):
            raise UnknownFilterError(f"filter {dim!r}: give periods as start=/end=, not as a filter")
        vals = [val] if isinstance(val, (str, int)) else list(val)  # type: ignore[arg-type]
        if not vals:
            raise UnknownFilterError(f"filter {dim!r} has no values")
        out[name] = tuple(sorted({str(v) for v in vals}))
    return out


def build_key(dimensions: Iterable[str], filters: Mapping[str, Iterable[str]]) -> str:
    """SDMX 2.1 key: one slot per dimension in DSD order, values joined by ``+``, empty = all."""
    return ".".join("+".join(filters.get(d, ())) for d in dimensions)


def _check_filters(struct: Structure, filters: Mapping[str, tuple[str, ...]]) -> None:
    unknown = [d for d in filters if d not in struct.dimensions]
    if unknown:
        raise UnknownFilterError(
            f"{struct.dataset!r} has no dimension {', '.join(map(repr, unknown))}; "
            f"its dimensions are: {', '.join(struct.dimensions)}")
    if struct.values is None:
        return
    for dim, vals in filters.items():
        valid = struct.values.get(dim)
        if valid is None:
            continue
        bad = [v for v in vals if v not in valid]
        if bad:
            shown = ", ".join(valid[:60]) + (f", ... ({len(valid)} in all)" if len(valid) > 60 else "")
            raise UnknownFilterError(
                f"{struct.dataset!r}: {dim}={', '.join(bad)} not in the dataset; valid {dim} codes: {shown}")


def _size_note(struct: Structure, filters: Mapping[str, tuple[str, ...]],
               start: str | None, end: str | None) -> str:
    """Human estimate of a query's cells (product of positions per dimension x periods)."""
    if struct.values is None:
        return "The query's size could not be estimated (no content constraint). "
    parts, cells = [], 1
    for d in struct.dimensions:
        n = len(filters[d]) if d in filters else len(struct.values.get(d, ()))
        n = n or 1
        cells *= n
        parts.append(f"{d} {n}")
    if struct.periods:
        n = sum(1 for p in struct.periods if _in_period(p, start, end)) or 1
        cells *= n
        parts.append(f"periods {n}")
    return f"This query asks for about {cells:,} cells ({' x '.join(parts)}). "


def _in_period(p: str, start: str | None, end: str | None) -> bool:
    # compare on the requested precision: end="2016" includes "2016-Q4"
    return (start is None or p[: len(start)] >= start) and (end is None or p[: len(end)] <= end)


def _apply(df: pd.DataFrame, filters: Mapping[str, tuple[str, ...]], start: str | None,
           end: str | None) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for dim, vals in filters.items():
        mask &= df[dim].astype(str).isin(vals) if not isinstance(df[dim].dtype, pd.CategoricalDtype) \
            else df[dim].isin(vals)
    if start is not None or end is not None:
        times = pd.Series(df["time"].astype(str).unique())
        keep = set(times[[_in_period(t, start, end) for t in times]])
        mask &= df["time"].astype(str).isin(keep)
    if bool(mask.all()):
        return df
    out = df.loc[mask.to_numpy()].reset_index(drop=True)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) and col not in ("time", "flag"):
            out[col] = out[col].cat.remove_unused_categories()
    return out


# --------------------------------------------------------------------------- mirror mode
@lru_cache(maxsize=32)
def _read_recorded(path: str, mtime_ns: int, flags: bool) -> pd.DataFrame:
    try:
        from .formats import read_eurostat_file
    except ImportError:  # formats module not available: the TSVs are still readable
        if path.endswith((".tsv", ".tsv.gz")):
            return parse_tsv(Path(path).read_bytes(), flags=flags, source=path)
        raise
    return read_eurostat_file(path, flags=flags)


def _provenance_vintage(mirror: Path, rel: str) -> str | None:
    """The "vintage" cell of the file's row in the mirror's PROVENANCE.md table, if any."""
    try:
        lines = (mirror / "PROVENANCE.md").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"| `{rel}`"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            return cells[-1] or None
    return None


def _from_mirror(mirror: Path, dataset: str, filters: Mapping[str, tuple[str, ...]],
                 start: str | None, end: str | None, flags: bool) -> pd.DataFrame:
    folder = mirror / "eurostat" / dataset.lower()
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.endswith("_Label.csv"))
    if not files:
        raise MirrorCoverageError(f"mirror {mirror} has no recorded files for {dataset!r} "
                                  f"(looked in eurostat/{dataset.lower()}/)")
    gaps, best = [], None
    for path in files:
        rel = path.relative_to(mirror).as_posix()
        try:
            df = _read_recorded(str(path), path.stat().st_mtime_ns, flags)
        except Exception as exc:  # an unreadable file is a gap, reported below
            gaps.append(f"{rel}: unreadable ({exc})")
            continue
        missing, usable = [], {}
        for dim, vals in filters.items():
            if dim not in df.columns:
                # old bulk files have no freq column; their 4-digit periods are annual
                if dim == "freq" and set(vals) == {"A"} and df["time"].astype(str).str.fullmatch(r"\d{4}").all():
                    continue
                missing.append(f"no dimension {dim!r}")
                continue
            have = set(df[dim].astype(str).unique())
            lacking = [v for v in vals if v not in have]
            if lacking:
                missing.append(f"{dim} lacks {', '.join(lacking)}")
            usable[dim] = vals
        if missing:
            gaps.append(f"{rel}: " + "; ".join(missing))
            continue
        sub = _apply(df, usable, start, end)
        if sub.empty:
            gaps.append(f"{rel}: no periods between {start or '…'} and {end or '…'}")
            continue
        score = int(sub["value"].notna().sum())
        if best is None or score > best[0]:
            best = (score, rel, path, sub, df.attrs)
    if best is None:
        raise MirrorCoverageError(
            f"no recorded file in the mirror covers {dataset!r} with filters {dict(filters)} "
            f"start={start} end={end}:\n  " + "\n  ".join(gaps))
    _, rel, path, sub, attrs = best
    sub = sub.copy()
    sub.attrs = {
        "source": "mirror", "mirror_file": rel, "sha256": attrs.get("sha256") or sha256_file(path),
        "vintage": attrs.get("vintage") or _provenance_vintage(mirror, rel),
        "url": None, "retrieved_at": None, "last_update": attrs.get("vintage"),
    }
    return sub


# --------------------------------------------------------------------------- public entry point
def _empty_result(struct: Structure, flags: bool) -> pd.DataFrame:
    return parse_tsv(",".join(struct.dimensions) + "\\TIME_PERIOD\n", flags=flags)


def _parse_checked(body: bytes | Path, *, dataset: str, url: str, flags: bool,
                   headers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Reject anything that is not a Eurostat TSV, before it can reach the cache."""
    size = body.stat().st_size if isinstance(body, Path) else len(body)
    if not size:
        raise EurostatResponseError(f"empty response body for {dataset!r}; URL {url}")
    if isinstance(body, Path):
        with open(body, "rb") as fh:
            first = fh.read(4096)
    else:
        first = body[:4096]
    ctype = (headers or {}).get("Content-Type", "")
    head = first[:512].lstrip().lower()
    if "html" in ctype.lower() or head.startswith((b"<!doctype html", b"<html")):
        raise EurostatResponseError(
            f"Eurostat sent an HTML page instead of data for {dataset!r} (often a maintenance or "
            f"error page with status 200); URL {url}. First bytes: {first[:160]!r}")
    if head.startswith(b"<") and b"fault" in first.lower():
        raise EurostatResponseError(f"Eurostat sent an SDMX error for {dataset!r}; URL {url}: "
                                    f"{first[:400].decode('utf-8', 'replace')}")
    try:
        return parse_tsv(body, flags=flags, source=url)
    except TSVFormatError as exc:
        raise EurostatResponseError(f"bad response for {dataset!r}: {exc}") from exc


def get_eurostat(code: str, filters: Mapping[str, object] | None = None, *,
                 start: str | int | None = None, end: str | int | None = None, flags: bool = True,
                 refresh: bool = False, progress: bool | None = None) -> pd.DataFrame:
    """Download (or serve from cache/mirror) one Eurostat dataset as a tidy long frame.

    ``filters`` maps dimension ids (any case) to a code or a list of codes, e.g.
    ``{"geo": ["BG31", "BG41"], "unit": "PC_GDP"}``; a list is one request (``BG31+BG41``).
    ``start``/``end`` bound the period (``startPeriod``/``endPeriod``). The frame has the columns
    of :func:`clusterstats.sdmx_tsv.parse_tsv`, and ``df.attrs`` records the provenance:
    dataset, filters, url, retrieved_at, last_update, sha256 (of the raw bytes), source
    ("live", "cache" or "mirror") and, for the mirror, mirror_file and vintage.

    Parameters
    ----------
    code : str
        Eurostat dataset code, e.g. ``"tgs00042"``.
    filters : mapping, optional
        Dimension id -> code or list of codes.
    start, end : str or int, optional
        First and last period.
    flags : bool
        Keep the observation ``flag`` column.
    refresh : bool
        Ignore the cache and ask the service again.
    progress : bool, optional
        Download progress bar (None: only when stderr is a terminal).

    Returns
    -------
    pandas.DataFrame
        One row per observation (dimensions, ``time``, ``value``, ``flag``), provenance in
        ``attrs``.

    Examples
    --------
    Offline, from the recorded files (``CLUSTERSTATS_OFFLINE=1``,
    ``CLUSTERSTATS_MIRROR=../shared/mirror``); without them the same call asks Eurostat:

    >>> from clusterstats import get_eurostat
    >>> df = get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]}, start=2016, end=2016)  # doctest: +SKIP
    >>> print(df[["geo", "time", "value"]].to_string(index=False))  # doctest: +SKIP
     geo time  value
    BG31 2016   0.47
    BG41 2016   1.14
    >>> df.attrs["source"], df.attrs["vintage"]  # doctest: +SKIP
    ('mirror', 'commit dated 2026-05-12')
    """
    start = None if start is None else str(start)
    end = None if end is None else str(end)
    norm = _normalise_filters(filters)

    mirror = os.environ.get("CLUSTERSTATS_MIRROR")
    if mirror:
        df = _from_mirror(Path(mirror).expanduser(), code, norm, start, end, flags)
        df.attrs.update(dataset=code, filters={k: list(v) for k, v in norm.items()},
                        start=start, end=end)
        return df

    cache = Cache()
    # Structure answers are cached only after the data request succeeds, so that a failed query
    # (even with refresh=True) leaves the cache byte-identical.
    pending: list = []
    try:
        struct = get_structure(code, refresh=refresh, cache=cache, _pending=pending)
    except OfflineError as exc:
        period = f"periods {start or '…'} to {end or '…'}" if (start or end) else "all periods"
        raise OfflineError(f"offline: cannot serve {code!r} with filters "
                           f"{ {k: list(v) for k, v in norm.items()} }, {period}. {exc}") from exc
    _check_filters(struct, norm)
    key = build_key(struct.dimensions, norm)
    query = Query(dataset=code, key=key, start=start, end=end, format="TSV")
    url = f"{base_url()}/data/{code.upper()}" + (f"/{key}" if key.strip(".") else "") + \
        "?format=TSV&compressed=true" + (f"&startPeriod={start}" if start else "") + \
        (f"&endPeriod={end}" if end else "")

    entry = None if refresh else cache.get(query)
    if entry is not None:
        df = _parse_checked(entry.verified_path(), dataset=code, url=entry.url, flags=flags)
        source, retrieved_at, last_update, url = "cache", entry.retrieved_at, entry.last_update, entry.url
        sha = entry.sha256
    elif _offline():
        raise OfflineError(
            f"offline (CLUSTERSTATS_OFFLINE=1) and this query is not in the cache at "
            f"{cache.root}: {query.describe()}. Run it once online (unset CLUSTERSTATS_OFFLINE), "
            f"or point CLUSTERSTATS_MIRROR at a folder of recorded files. URL: {url}")
    else:
        # The body goes to a temporary file outside the cache: never held whole in memory, and
        # copied into the cache only after it has parsed.
        with tempfile.TemporaryDirectory(prefix="clusterstats-") as tmp:
            part = Path(tmp) / "response"
            try:
                resp = _get(url, dataset=code, size_note=_size_note(struct, norm, start, end),
                            progress=progress, sink=part)
            except NoResultsError:
                resp = None  # an empty selection is an answer, not a failure (rOpenGov/eurostat #244)
            if resp is None:
                df, sha = _empty_result(struct, flags), None
            else:
                resp = _resolve_async(resp, dataset=code, base=base_url(), progress=progress, sink=part)
                df = _parse_checked(part, dataset=code, url=url, flags=flags, headers=resp.headers)
                sha = sha256_file(part)
            retrieved_at, last_update, source = _now(), struct.last_update, "live"
            if df.empty:
                # Nothing to pin: an empty selection may fill later, and a header with no rows is
                # more likely a glitch than a vintage.
                warnings.warn(f"Eurostat returned no rows for {query.describe()}; not cached. "
                              f"URL: {url}", stacklevel=2)
            else:
                # one manifest rewrite for the structure answers and the data
                cache.put_many([(q, body, u, None) for q, body, u in pending]
                               + [(query, part, url, last_update)], retrieved_at=retrieved_at)

    df = _apply(df, {d: v for d, v in norm.items() if d in df.columns}, start, end)
    df.attrs = {
        "dataset": code, "filters": {k: list(v) for k, v in norm.items()}, "start": start,
        "end": end, "key": key, "url": url, "retrieved_at": retrieved_at,
        "last_update": last_update, "sha256": sha, "source": source,
        "query_id": query.id,
    }
    return df
