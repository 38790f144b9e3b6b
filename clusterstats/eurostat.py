"""Eurostat datasets as tidy long frames: one request per query, a verified cache, offline and mirror.

    >>> from clusterstats import get_eurostat
    >>> df = get_eurostat("tgs00042", {"geo": ["BG31", "BG41"]}, start="2013")
    >>> df.attrs["source"], df.attrs["sha256"], df.attrs["vintage"]

Where an answer comes from is set by a :class:`Client` (cache, offline flag, mirror, session,
transport :class:`Settings`); without one, :meth:`Client.from_env` reads ``CLUSTERSTATS_MIRROR``,
``CLUSTERSTATS_OFFLINE``, ``CLUSTERSTATS_CACHE`` and ``CLUSTERSTATS_EUROSTAT_URL`` as defaults:

1. a mirror folder set: only recorded files ``DIR/eurostat/<code>/*`` (read with
   :func:`clusterstats.formats.read_eurostat_file`), filtered locally; no cache, no network. The
   file is chosen by the filters alone, never by ``start``/``end``; ``attrs`` keep its vintage as an
   ISO date with ``vintage_kind`` and the ``derived`` marker of third-party extracts;
2. the cache (:mod:`clusterstats.cache`), unless ``refresh=True``;
3. the live SDMX 2.1 dissemination API, never when offline (offline with ``refresh=True`` is an
   error that says so).

What is checked before an answer is returned or cached (anything else is an
:class:`EurostatError` naming dataset, URL and reason, and the cache stays byte-identical):

* transport: one total deadline per call (:attr:`Settings.deadline`: requests, waits, polls and
  the body, read with ``read1`` so a trickled body cannot stretch it); retries on 429/5xx/timeouts
  by urllib3's ``Retry``, honouring ``Retry-After`` up to :attr:`Settings.max_wait` (beyond it: an
  error at once, not a long wait); redirects only within the configured host (others are refused
  and named); every ``requests``/``urllib3`` failure wrapped in :class:`EurostatError`;
* completeness: we ask for ``compressed=true``, and gzip's trailer (CRC-32 and length) proves the
  body whole; a body of another length than its ``Content-Length`` is refused;
* format: a Eurostat TSV (:func:`~clusterstats.sdmx_tsv.parse_tsv`): UTF-8 header, every header
  column a period, the same field count on every row, every cell a number or ``:`` optionally
  followed by flags (text after a value that is not a flag is refused), no series key twice; an
  HTML page or SDMX error with status 200 is refused;
* structure: the answer's dimensions are the DSD's, in its order; its codes are in the content
  constraint where one is known; its periods are written in the frequency of its rows
  (A, S, Q, M, W, D, and the bulk files' ``2020M01``). Periods are compared as spans of days
  (:func:`~clusterstats.sdmx_tsv.in_period`), never as text.

What cannot be detected: a plain (uncompressed) body cut exactly at a line end and sent with a
``Content-Length`` that matches the cut (or with none) is a well-formed TSV with fewer rows; the
client warns when a body was not gzip-compressed (``attrs["integrity"]`` says what was verified)
but cannot tell. Nor can it tell a value Eurostat itself published wrongly, or a revision: the
cache pins what was fetched until ``refresh=True``, and ``attrs["last_update"]`` carries the
dataflow's ``UPDATE_DATA``.

How this differs from the ``eurostat`` package (1.1.1), whose endpoint and structure requests we
reuse (see the project's reference notes A2): a multi-valued filter is one request (``BG31+BG41``
in the SDMX key) instead of one per combination; key positions follow the DSD's numeric
``position`` (the package sorts positions as strings, which breaks with >= 10 dimensions); async
answers are polled with sleeps and a bound; flags are kept with filters. The body is streamed to
a temporary file and parsed from there, so a large answer is never held in memory twice.

Eurostat API reference: "API - Detailed guidelines - SDMX2.1" and "... - Asynchronous API"
(https://wikis.ec.europa.eu/display/EUROSTATHELP/API+-+Detailed+guidelines).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
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

from urllib.parse import urljoin, urlsplit

import pandas as pd
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .cache import Cache, Query
from .provenance import sha256_file
from .sdmx_tsv import PERIOD_FREQS, TSVFormatError, in_period, parse_tsv, period_freq, period_range

__all__ = [
    "DEFAULT_BASE_URL", "EurostatError", "EurostatHTTPError", "EurostatResponseError",
    "QueryTooLargeError", "NoResultsError", "OfflineError", "UnknownFilterError", "MirrorCoverageError",
    "DeadlineError", "RedirectError", "Structure", "Settings", "settings", "Client", "get_eurostat",
    "get_structure", "build_key", "iso_timestamp", "mirror_vintage",
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
    """Anything that stops a Eurostat query; the message names the dataset, the URL and the reason."""


class EurostatHTTPError(EurostatError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class EurostatResponseError(EurostatError):
    """Status 200 but the body is not usable data (HTML page, empty, truncated, malformed, or
    not what the dataset's structure allows)."""


class NoResultsError(EurostatHTTPError):
    """HTTP 404 "No results found": the filters and period select no observations."""


class QueryTooLargeError(EurostatHTTPError):
    """HTTP 413: the query asks for more than Eurostat's 5,000,000-cell limit."""


class OfflineError(EurostatError):
    """The client is offline and the query is not in the cache (or a refresh was asked for)."""


class UnknownFilterError(EurostatError, ValueError):
    """A filter names a dimension or code the dataset does not have, or a bound is not a period."""


class MirrorCoverageError(EurostatError):
    """No recorded file in the mirror covers the query."""


class DeadlineError(EurostatError):
    """The call's total deadline (:attr:`Settings.deadline`) would pass."""


class RedirectError(EurostatError):
    """A redirect to another host than the configured one, or too many redirects."""


@dataclass
class Settings:
    """Transport policy; :class:`Client` takes one, else the module-level :data:`settings` is used."""

    timeout: float = 120.0      #: seconds any one connect or socket read may wait
    deadline: float = 1800.0    #: seconds for one whole call: every request, wait, poll and body
    retries: int = 5            #: extra attempts after a 429, 5xx, timeout or refused connection
    backoff: float = 2.0        #: first wait in seconds; doubled after each failed attempt
    max_wait: float = 300.0     #: cap on a backoff wait; a longer Retry-After is an error, not a wait
    max_redirects: int = 5      #: redirects followed (only within the configured host)
    poll_interval: float = 10.0  #: seconds between polls of an async (queued) extraction
    max_polls: int = 90         #: give up on an async extraction after this many polls
    progress: bool | None = None  #: tqdm bar for downloads; None = only when stderr is a TTY


settings = Settings()
_sleep = time.sleep  # one place to wait, so tests can record waits instead of sleeping
_clock = time.monotonic


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Client:
    """Where answers come from, passed explicitly (environment variables are only defaults).

    ``base_url`` the SDMX 2.1 API root; ``cache`` a :class:`~clusterstats.cache.Cache` (or a
    folder); ``offline`` never touch the network; ``mirror`` a folder of recorded files that
    serves every query instead of the network and cache; ``session`` a ``requests.Session``
    (headers, proxies, certificates; its adapters are not used, see :func:`_send`);
    ``settings`` the transport policy (None: the module-level :data:`settings`).

        >>> client = Client(cache=Cache(".cache/example"), offline=True)
        >>> get_eurostat("tgs00042", {"geo": "BG41"}, client=client)
    """

    base_url: str = DEFAULT_BASE_URL
    cache: Cache | str | os.PathLike | None = None
    offline: bool = False
    mirror: Path | str | None = None
    session: requests.Session | None = None
    settings: Settings | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.cache is None or not isinstance(self.cache, Cache):
            self.cache = Cache(self.cache)
        if self.mirror is not None:
            self.mirror = Path(self.mirror).expanduser()

    @classmethod
    def from_env(cls, **overrides) -> "Client":
        """A client from ``CLUSTERSTATS_EUROSTAT_URL``, ``CLUSTERSTATS_CACHE``,
        ``CLUSTERSTATS_OFFLINE`` and ``CLUSTERSTATS_MIRROR``; keyword arguments win."""
        values = dict(base_url=base_url(), cache=None, offline=_env_flag("CLUSTERSTATS_OFFLINE"),
                      mirror=os.environ.get("CLUSTERSTATS_MIRROR") or None)
        values.update(overrides)
        return cls(**values)

    @property
    def policy(self) -> Settings:
        return self.settings if self.settings is not None else settings

    def get(self, code: str, filters: Mapping[str, object] | None = None, **kwargs) -> pd.DataFrame:
        """:func:`get_eurostat` with this client."""
        return get_eurostat(code, filters, client=self, **kwargs)


def base_url() -> str:
    return os.environ.get("CLUSTERSTATS_EUROSTAT_URL", DEFAULT_BASE_URL).rstrip("/")


def _async_base(base: str) -> str:
    # .../dissemination/sdmx/2.1 -> .../dissemination/1.0/async (as in the eurostat package)
    root = base[: -len("/sdmx/2.1")] if base.endswith("/sdmx/2.1") else base
    return root + "/1.0/async"


def _offline() -> bool:
    return _env_flag("CLUSTERSTATS_OFFLINE")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- HTTP policy
@dataclass
class _Response:
    url: str                # the URL that answered (after redirects within the host)
    content: bytes | None   # None when a large body went to ``path`` only
    headers: Mapping[str, str]
    path: Path | None = None
    redirects: tuple[str, ...] = ()


class _Call:
    """One call's budget: the deadline, the waits, and what every error message names."""

    def __init__(self, client: Client, dataset: str):
        self.client, self.dataset, self.policy = client, dataset, client.policy
        self.started = _clock()
        self.url = client.base_url
        self.session = client.session or requests.Session()

    def remaining(self) -> float:
        return self.policy.deadline - (_clock() - self.started)

    def check(self, doing: str) -> None:
        if self.remaining() <= 0:
            raise DeadlineError(f"the deadline of {self.policy.deadline:g} s for {self.dataset!r} "
                                f"passed while {doing} (Settings.deadline); URL {self.url}")

    def wait(self, seconds: float, *, retry_after: bool = False, status: int | None = None) -> None:
        """Sleep before a retry or poll, unless the cap or the deadline forbids it (then raise)."""
        if retry_after and seconds > self.policy.max_wait:
            raise EurostatHTTPError(
                f"Eurostat answered HTTP {status} for {self.dataset!r} and asked to wait "
                f"{seconds:g} s (Retry-After), more than the cap of {self.policy.max_wait:g} s "
                f"(Settings.max_wait); try again later. URL {self.url}", status)
        seconds = min(seconds, self.policy.max_wait)
        if seconds > self.remaining():
            raise DeadlineError(
                f"waiting {seconds:g} s before the next attempt at {self.dataset!r} would pass the "
                f"deadline of {self.policy.deadline:g} s (Settings.deadline); last answer "
                f"{'HTTP ' + str(status) if status else 'none'}. URL {self.url}")
        _sleep(seconds)

    def timeout(self) -> float:
        return max(0.001, min(self.policy.timeout, self.remaining()))


class _Retry(Retry):
    """urllib3's ``Retry`` decides what is retried (429, 500, 502, 503, 504, timeouts, refused
    connections; GET only), counts attempts and parses ``Retry-After``. Two things it does not do
    (read in urllib3 2.8's source and seen in the replay tests), so they are overridden here:
    (1) ``Retry.sleep_for_retry`` sleeps whatever ``Retry-After`` asks (3600 s for the 429 of the
    issue) and nothing bounds the sum of waits, so waits go through :meth:`_Call.wait` (cap and
    deadline); (2) ``get_backoff_time`` returns 0 for the first retry, an immediate second request
    to a server that just said 503.
    413 is not retried even with ``Retry-After`` (it means "too large", not "later")."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})
    call: _Call | None = None

    def new(self, **kw):
        fresh = super().new(**kw)
        fresh.call = self.call
        return fresh

    def get_backoff_time(self) -> float:
        errors = len([h for h in self.history if h.redirect_location is None])
        return 0.0 if errors == 0 else min(self.backoff_factor * 2 ** (errors - 1), self.backoff_max)

    def sleep(self, response=None) -> None:
        hinted = self.get_retry_after(response) if response is not None else None
        status = getattr(response, "status", None)
        if hinted is not None:
            self.call.wait(hinted, retry_after=True, status=status)
        else:
            self.call.wait(self.get_backoff_time(), status=status)


def _adapter(call: _Call) -> HTTPAdapter:
    p = call.policy
    retry = _Retry(total=p.retries, status_forcelist=(429, 500, 502, 503, 504), allowed_methods={"GET"},
                   backoff_factor=p.backoff, backoff_max=p.max_wait, respect_retry_after_header=True,
                   raise_on_status=False, raise_on_redirect=False, redirect=False)
    retry.call = call
    return HTTPAdapter(max_retries=retry)


def _same_origin(a: str, b: str) -> bool:
    pa_, pb = urlsplit(a), urlsplit(b)
    return (pa_.scheme, pa_.hostname, pa_.port) == (pb.scheme, pb.hostname, pb.port)


def _send(call: _Call, url: str) -> tuple[requests.Response, tuple[str, ...]]:
    """GET ``url`` with the retry policy, following redirects only within the configured host.

    Redirects are followed here, not by requests: requests follows any host (and raises
    ``TooManyRedirects``/``InvalidSchema``), and has no way to restrict them. The session gives
    headers, cookies, proxies and certificates; the adapter (retries) is this call's own.
    """
    adapter, hops = _adapter(call), []
    try:
        while True:
            call.url = url
            call.check("connecting")
            prep = call.session.prepare_request(requests.Request("GET", url))
            env = call.session.merge_environment_settings(prep.url, {}, True, None, None)
            resp = adapter.send(prep, stream=True, timeout=(call.timeout(), call.timeout()),
                                verify=env["verify"], cert=env["cert"], proxies=env["proxies"])
            if not resp.is_redirect:
                return resp, tuple(hops)
            target = urljoin(url, resp.headers.get("Location", ""))
            resp.close()
            if not _same_origin(target, call.client.base_url):
                raise RedirectError(
                    f"refused a redirect for {call.dataset!r} from {url} to {target}: "
                    f"{urlsplit(target).netloc or target!r} is not the configured Eurostat host "
                    f"{urlsplit(call.client.base_url).netloc!r}")
            hops.append(url)
            if len(hops) > call.policy.max_redirects:
                raise RedirectError(f"more than {call.policy.max_redirects} redirects for "
                                    f"{call.dataset!r} (last {url} -> {target})")
            url = target
    except EurostatError:
        raise
    except requests.RequestException as exc:
        raise _transport_error(call, exc) from exc
    finally:
        adapter.close()


def _transport_error(call: _Call, exc: Exception) -> EurostatError:
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return EurostatHTTPError(
            f"Eurostat did not answer {call.dataset!r} after {call.policy.retries + 1} attempts "
            f"(last: {reason}). URL: {call.url}")
    return EurostatError(f"request for {call.dataset!r} failed ({reason}). URL: {call.url}")


def _download(call: _Call, resp: requests.Response, show: bool, sink: Path | None) -> bytes | None:
    """The body as sent (no content decoding), in memory or (``sink``) streamed to a file.

    Reads with ``read1`` (what the socket has, never blocking to fill a block), so the deadline is
    checked between reads even when a server trickles the body. A body shorter or longer than its
    ``Content-Length`` is an error.
    """
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(resp.headers.get("Content-Length") or 0) or None, unit="B",
                   unit_scale=True, desc="Eurostat", file=sys.stderr)
    chunks: list[bytes] = []
    got = 0
    try:
        with open(sink, "wb") if sink is not None else contextlib.nullcontext() as fh:
            while True:
                call.check(f"downloading the body ({got:,} bytes so far)")
                chunk = resp.raw.read1(1 << 16, decode_content=False)
                if not chunk:
                    break
                got += len(chunk)
                if fh is not None:
                    fh.write(chunk)
                else:
                    chunks.append(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        raise EurostatResponseError(
            f"the answer for {call.dataset!r} broke off after {got:,} bytes "
            f"({type(exc).__name__}: {exc}); URL {call.url}") from exc
    finally:
        if bar is not None:
            bar.close()
    declared = resp.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) != got:
        raise EurostatResponseError(
            f"the answer for {call.dataset!r} has {got:,} bytes but its Content-Length says "
            f"{int(declared):,}: the body is incomplete; URL {call.url}")
    return None if sink is not None else b"".join(chunks)


def _error_for(call: _Call, status: int, body: str, size_note: str, attempts: int) -> EurostatError:
    url, dataset = call.url, call.dataset
    said = f" Server said: {body.strip()[:300].rstrip('.')}." if body.strip() else " (empty body)."
    if status == 413:
        return QueryTooLargeError(
            f"Eurostat refused {dataset!r} as too large (HTTP 413, limit {MAX_CELLS:,} "
            f"cells). {size_note}Add filters (fewer geo/unit codes or a start/end period) "
            f"and retry. URL: {url}.{said}", status)
    if status == 404 and "no result" in body.lower():
        return NoResultsError(f"Eurostat found no data for {dataset!r} with this query ({url}).{said}",
                              status)
    if status >= 500 or status == 429:
        return EurostatHTTPError(
            f"Eurostat did not answer {dataset!r} after {attempts} attempts "
            f"(last: HTTP {status}). URL: {url}.{said}", status)
    hint = ""
    if status == 400 and "/data/" in url:
        hint = (" If the dataset's structure changed upstream (a dimension added, removed or "
                "recoded), the cached structure is out of date: retry with refresh=True.")
    return EurostatHTTPError(f"Eurostat answered HTTP {status} for {dataset!r} ({url}).{said}{hint}",
                             status)


def _get(url: str, *, call: _Call, size_note: str = "", progress: bool | None = None,
         sink: Path | None = None) -> _Response:
    """GET under the call's policy (see :class:`_Retry`, :func:`_send`); errors name dataset and URL.

    With ``sink`` the body is streamed to that file; ``content`` is then loaded only when small
    (async tickets, error pages), else None.
    """
    show = progress if progress is not None else (
        call.policy.progress if call.policy.progress is not None else sys.stderr.isatty())
    resp, hops = _send(call, url)
    try:
        if resp.status_code == 200:
            content = _download(call, resp, show, sink)
            if sink is not None and sink.stat().st_size <= 1 << 16:
                content = sink.read_bytes()
            return _Response(call.url, content, resp.headers, sink, hops)
        try:
            body = resp.raw.read(500, decode_content=True).decode("utf-8", "replace")
        except (urllib3.exceptions.HTTPError, OSError):
            body = ""
        retries = getattr(resp.raw, "retries", None)
        attempts = len(retries.history) + 1 if retries is not None else 1
        raise _error_for(call, resp.status_code, body, size_note, attempts)
    finally:
        resp.close()


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


def _resolve_async(resp: _Response, *, call: _Call, progress: bool | None,
                   sink: Path | None = None) -> _Response:
    ticket = None if resp.content is None else _async_ticket(resp.content)
    if ticket is None:
        return resp
    key, status = ticket
    base, dataset = call.client.base_url, call.dataset
    status_url = f"{_async_base(base)}/status/{key}"
    for _ in range(call.policy.max_polls):
        if status == "AVAILABLE":
            return _get(f"{_async_base(base)}/data/{key}", call=call, progress=progress, sink=sink)
        if status not in ("SUBMITTED", "PROCESSING"):
            raise EurostatError(f"Eurostat's queued extraction of {dataset!r} ended with status "
                                f"{status!r} (key {key}; request {resp.url})")
        call.wait(call.policy.poll_interval)
        polled = _async_ticket(_get(status_url, call=call, progress=False).content or b"")
        if polled is None:
            raise EurostatResponseError(f"unreadable async status for {dataset!r} from {status_url}")
        status = polled[1]
    raise EurostatError(
        f"Eurostat's queued extraction of {dataset!r} was not ready after {call.policy.max_polls} "
        f"polls every {call.policy.poll_interval:g}s (key {key}). Retry later; request {resp.url}")


# --------------------------------------------------------------------------- structure (DSD)
@dataclass(frozen=True)
class Structure:
    """What the client needs from a dataset's SDMX structure."""

    dataset: str
    dsd_id: str
    dimensions: tuple[str, ...]          # ids in DSD position order (numeric), time excluded
    last_update: str | None = None       # dataflow annotation UPDATE_DATA, as Eurostat writes it
    values: Mapping[str, tuple[str, ...]] | None = None  # from the content constraint, if known
    periods: tuple[str, ...] | None = None
    from_cache: bool = False             # the dataflow/DSD came from the cache, not the network


def iso_timestamp(text: str | None) -> str | None:
    """Eurostat's ``2026-04-24T23:00:00+0200`` (or a date) in ISO 8601 (``...+02:00``); None stays."""
    if not text:
        return None
    text = text.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).isoformat()
        except ValueError:
            continue
    return text


def _xml(content: bytes, what: str, dataset: str, url: str) -> ET.Element:
    head = content[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise EurostatResponseError(
            f"Eurostat sent an HTML page instead of the {what} for {dataset!r} (often a "
            f"maintenance or error page with status 200); URL {url}. First bytes: {content[:120]!r}")
    if not content.strip():
        raise EurostatResponseError(f"empty {what} answer for {dataset!r}; URL {url}")
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


def _cached(cache: Cache, query: Query, dataset: str):
    """The cache entry, with a broken cache turned into an error that says how to repair it."""
    try:
        return cache.get(query)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EurostatError(f"the cache at {cache.root} cannot be read for {dataset!r} ({exc}); "
                            "rerun with refresh=True to rebuild it") from exc


def _structure_bytes(kind: str, url: str, call: _Call, refresh: bool, validate,
                     pending: list | None) -> tuple[bytes | None, bool]:
    """(bytes, came from the cache) of one structure answer; (None, False) when offline."""
    cache, dataset = call.client.cache, call.dataset
    query = Query(dataset=dataset, format=kind)
    entry = None if refresh else _cached(cache, query, dataset)
    if entry is not None:
        try:
            return entry.read(), True
        except OSError as exc:
            raise EurostatError(f"cached {kind} of {dataset!r} is corrupt ({exc}); rerun with "
                                "refresh=True to fetch it again") from exc
    if call.client.offline:
        return None, False
    content = _get(url, call=call, progress=False).content or b""
    validate(content)
    if pending is None:
        cache.put(query, content, url=url, retrieved_at=_now())
    else:  # written only once the data request has succeeded too
        pending.append((query, content, url))
    return content, False


def get_structure(dataset: str, *, refresh: bool = False, cache: Cache | None = None,
                  client: Client | None = None, _pending: list | None = None,
                  _call: _Call | None = None) -> Structure:
    """Dimension order (and, when the service gives it, valid codes) for ``dataset``; cached.

    Uses the same requests as the ``eurostat`` package: ``dataflow/ESTAT/<code>/latest`` then
    ``datastructure/ESTAT/<dsd>/latest``; valid codes come from ``contentconstraint/ESTAT/<code>``.
    """
    client = client or Client.from_env(**({"cache": cache} if cache is not None else {}))
    call = _call or _Call(client, dataset)
    if refresh and client.offline:
        raise OfflineError(_offline_refresh_message(dataset))
    base, code = client.base_url, dataset.upper()
    df_url = f"{base}/dataflow/{AGENCY}/{code}/latest"
    try:
        flow, from_cache = _structure_bytes("dataflow", df_url, call, refresh,
                                            lambda b: _parse_dataflow(b, dataset, df_url), _pending)
    except EurostatHTTPError as exc:
        if exc.status == 404:
            raise EurostatHTTPError(f"Eurostat has no dataset {dataset!r} (agency {AGENCY}); "
                                    f"check the code in the Eurostat data browser. {exc}", 404) from exc
        raise
    if flow is None:
        raise OfflineError(
            f"offline and the structure of {dataset!r} is not in the cache at {client.cache.root} "
            f"(dataflow {df_url}). Run the same get_eurostat call once online to cache it.")
    dsd_id, last_update = _parse_dataflow(flow, dataset, df_url)
    dsd_url = f"{base}/datastructure/{AGENCY}/{dsd_id}/latest"
    dsd, _ = _structure_bytes("datastructure", dsd_url, call, refresh,
                              lambda b: _parse_dsd(b, dataset, dsd_url), _pending)
    if dsd is None:
        raise OfflineError(f"offline and the data structure {dsd_id} of {dataset!r} is not in the "
                           f"cache at {client.cache.root} ({dsd_url}). Run the same get_eurostat "
                           "call once online to cache it.")
    dims = _parse_dsd(dsd, dataset, dsd_url)
    values = periods = None
    cc_url = f"{base}/contentconstraint/{AGENCY}/{code}"
    try:  # optional: only used to validate filters, answers and size 413 messages
        cc, _ = _structure_bytes("contentconstraint", cc_url, call, refresh, _parse_constraint,
                                 _pending)
        if cc is not None:
            values, periods = _parse_constraint(cc)
    except (DeadlineError, RedirectError):
        raise
    except (EurostatError, ET.ParseError):
        pass
    return Structure(dataset, dsd_id, dims, last_update, values, periods, from_cache)


def _offline_refresh_message(dataset: str) -> str:
    return (f"refresh=True asks for a live request for {dataset!r}, but the client is offline "
            "(CLUSTERSTATS_OFFLINE=1 or Client(offline=True)). Drop refresh=True to use the "
            "cached copy, or go online to refresh it.")


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


def _check_bounds(code: str, start: str | None, end: str | None) -> None:
    for name, bound in (("start", start), ("end", end)):
        if bound is not None and period_range(bound) is None:
            raise UnknownFilterError(
                f"{code!r}: {name}={bound!r} is not a period (e.g. 2016, 2016-S1, 2016-Q1, 2016-03, "
                "2016-W05, 2016-03-31)")
    if start and end and period_range(start)[0] > period_range(end)[1]:
        raise UnknownFilterError(f"{code!r}: start={start!r} is after end={end!r}")


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
        n = sum(1 for p in struct.periods if period_range(p) and in_period(p, start, end)) or 1
        cells *= n
        parts.append(f"periods {n}")
    return f"This query asks for about {cells:,} cells ({' x '.join(parts)}). "


def _apply(df: pd.DataFrame, filters: Mapping[str, tuple[str, ...]], start: str | None,
           end: str | None) -> pd.DataFrame:
    """Rows with the filters' codes whose period overlaps start..end (compared as periods)."""
    mask = pd.Series(True, index=df.index)
    for dim, vals in filters.items():
        mask &= df[dim].astype(str).isin(vals) if not isinstance(df[dim].dtype, pd.CategoricalDtype) \
            else df[dim].isin(vals)
    if start is not None or end is not None:
        times = pd.Series(df["time"].astype(str).unique())
        keep = set(times[[period_range(t) is not None and in_period(t, start, end) for t in times]])
        mask &= df["time"].astype(str).isin(keep)
    if bool(mask.all()):
        return df
    out = df.loc[mask.to_numpy()].reset_index(drop=True)
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype) and col not in ("time", "flag"):
            out[col] = out[col].cat.remove_unused_categories()
    return out


def _check_answer(df: pd.DataFrame, struct: Structure, url: str) -> None:
    """The answer must fit the dataset's structure: the DSD's dimensions in its order, codes the
    content constraint lists (when known), periods written in a frequency the rows carry.

    (Duplicate series keys are already refused by :func:`~clusterstats.sdmx_tsv.parse_tsv`.)
    """
    dataset = struct.dataset
    hint = (" The dataset's structure may have changed upstream: retry with refresh=True"
            + (" (the structure came from the cache)." if struct.from_cache else "."))
    dims = [c for c in df.columns if c not in ("time", "value", "flag")]
    if dims != list(struct.dimensions):
        missing = [d for d in struct.dimensions if d not in dims]
        extra = [d for d in dims if d not in struct.dimensions]
        raise EurostatResponseError(
            f"the answer for {dataset!r} has dimensions {', '.join(dims)}; its data structure "
            f"{struct.dsd_id} has {', '.join(struct.dimensions)} (missing: {missing or 'none'}, "
            f"unexpected: {extra or 'none'}, else the order differs). URL {url}.{hint}")
    for d in dims:
        valid = (struct.values or {}).get(d)
        if valid is None:
            continue
        bad = sorted(set(map(str, df[d].cat.categories)) - set(valid))
        if bad:
            raise EurostatResponseError(
                f"the answer for {dataset!r} has {d} codes the dataset's content constraint does "
                f"not list: {', '.join(bad[:20])}. URL {url}.{hint}")
    periods = [str(p) for p in df["time"].cat.categories]
    freqs = set(map(str, df["freq"].cat.categories)) if "freq" in dims else set()
    known = freqs & set(PERIOD_FREQS)
    odd = [p for p in periods if known and period_freq(p) not in known]
    if odd:
        raise EurostatResponseError(
            f"the answer for {dataset!r} has period {odd[0]!r}, which is not written in the "
            f"frequency of its rows ({', '.join(sorted(known))}). URL {url}.{hint}")


# --------------------------------------------------------------------------- mirror mode
@lru_cache(maxsize=32)
def _read_recorded(path: str, mtime_ns: int, flags: bool) -> pd.DataFrame:
    from .formats import read_eurostat_file

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


_LAST_UPDATE_TEXT = re.compile(r"LAST UPDATE\s+(\d{2})/(\d{2})/(\d{2})\b")
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


def mirror_vintage(file_vintage: str | None, note: str | None) -> tuple[str | None, str]:
    """(ISO date, kind) for a recorded file: its own LAST UPDATE, else PROVENANCE.md's row.

    Kinds: ``"LAST UPDATE"`` (Eurostat's date, from the file or quoted in PROVENANCE.md) or
    ``"recorded"`` (the date the file was recorded: only an upper bound on the vintage).
    """
    if file_vintage:
        return str(file_vintage)[:10], "LAST UPDATE"
    if note:
        m = _LAST_UPDATE_TEXT.search(note)
        if m:
            return f"20{m[3]}-{m[2]}-{m[1]}", "LAST UPDATE"
        dates = _ISO_DATE.findall(note)
        if dates:
            return dates[0], "recorded"
    return None, "unknown"


def _mirror_candidates(mirror: Path, dataset: str, filters: Mapping[str, tuple[str, ...]],
                       flags: bool):
    """Every recorded file of ``dataset`` that has the filters' dimensions and codes; gaps named."""
    folder = mirror / "eurostat" / dataset.lower()
    files = sorted(p for p in folder.glob("*") if p.is_file() and not p.name.endswith("_Label.csv"))
    if not files:
        raise MirrorCoverageError(f"mirror {mirror} has no recorded files for {dataset!r} "
                                  f"(looked in eurostat/{dataset.lower()}/)")
    gaps, found = [], []
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
        found.append((rel, path, df, usable))
    return found, gaps


def _from_mirror(mirror: Path, dataset: str, filters: Mapping[str, tuple[str, ...]],
                 start: str | None, end: str | None, flags: bool) -> pd.DataFrame:
    """Serve a query from recorded files. The file is chosen by the filters alone (most values,
    then the newest vintage, then the name), never by ``start``/``end``: the same filters always
    get the same file and vintage, and a period it lacks is an error, not a silent switch."""
    found, gaps = _mirror_candidates(mirror, dataset, filters, flags)
    if not found:
        raise MirrorCoverageError(
            f"no recorded file in the mirror covers {dataset!r} with filters {dict(filters)}:\n  "
            + "\n  ".join(gaps))
    ranked = []
    for rel, path, df, usable in found:
        vintage, kind = mirror_vintage(df.attrs.get("vintage"), _provenance_vintage(mirror, rel))
        score = int(_apply(df, usable, None, None)["value"].notna().sum())
        ranked.append(((score, vintage or "", rel), rel, path, df, usable, vintage, kind))
    _, rel, path, df, usable, vintage, kind = max(ranked, key=lambda r: r[0])
    sub = _apply(df, usable, start, end)
    if sub.empty:
        times = sorted(df["time"].astype(str).unique())
        raise MirrorCoverageError(
            f"the recorded file that covers {dataset!r} with filters {dict(filters)} ({rel}) has "
            f"no periods between {start or '…'} and {end or '…'} (it has {times[0]}…{times[-1]})")
    sub = sub.copy()
    attrs = df.attrs
    sub.attrs = {
        "source": "mirror", "mirror_file": rel, "sha256": attrs.get("sha256") or sha256_file(path),
        "vintage": vintage, "vintage_kind": kind,
        "vintage_note": _provenance_vintage(mirror, rel), "format": attrs.get("format"),
        "derived": bool(attrs.get("derived")), "derived_from": attrs.get("derived_from"),
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


def _integrity(path: Path, dataset: str, url: str) -> str:
    """What proves the body complete. We ask for ``compressed=true``: gzip's trailer (CRC-32 and
    length) is checked when the body is decompressed. A plain body is checked only against its
    Content-Length (in :func:`_download`); cut at a line end and sent without one, it cannot be
    told from a complete answer, so this warns."""
    with open(path, "rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            return "gzip trailer (CRC-32 and length) verified"
    warnings.warn(f"the answer for {dataset!r} was not gzip-compressed although compressed=true "
                  f"was asked, so its completeness rests on Content-Length alone; URL {url}",
                  stacklevel=3)
    return "plain body: Content-Length only"


def _fetch_live(client: Client, call: _Call, struct: Structure, query: Query, url: str,
                pending: list, progress: bool | None, flags: bool, size_note: str) -> tuple:
    """Download, validate, and cache (only after every check passed) one query.

    The body goes to a temporary file outside the cache: never held whole in memory, and copied
    into the cache only after it has parsed and fitted the structure.
    """
    with tempfile.TemporaryDirectory(prefix="clusterstats-") as tmp:
        part = Path(tmp) / "response"
        try:
            resp = _get(url, call=call, size_note=size_note, progress=progress, sink=part)
        except NoResultsError:
            resp = None  # an empty selection is an answer, not a failure (rOpenGov/eurostat #244)
        if resp is None:
            warnings.warn(f"Eurostat returned no rows for {query.describe()} (HTTP 404 No results "
                          f"found); not cached. URL: {url}", stacklevel=3)
            return _empty_result(struct, flags), None, url, (), "no body (HTTP 404 no results)"
        answered, hops = resp.url, resp.redirects  # the query's own URL, also for async answers
        resp = _resolve_async(resp, call=call, progress=progress, sink=part)
        df = _parse_checked(part, dataset=query.dataset, url=resp.url, flags=flags,
                            headers=resp.headers)
        _check_answer(df, struct, resp.url)
        integrity = _integrity(part, query.dataset, resp.url)
        sha = sha256_file(part)
        if df.empty:
            # Nothing to pin: an empty selection may fill later, and a header with no rows is
            # more likely a glitch than a vintage.
            warnings.warn(f"Eurostat returned no rows for {query.describe()}; not cached. "
                          f"URL: {resp.url}", stacklevel=3)
        else:
            # one manifest rewrite for the structure answers and the data
            client.cache.put_many([(q, body, u, None) for q, body, u in pending]
                                  + [(query, part, answered, struct.last_update)],
                                  retrieved_at=_now())
        return df, sha, answered, hops, integrity


def _from_cache(entry, query: Query, flags: bool) -> pd.DataFrame:
    try:
        path = entry.verified_path()
    except OSError as exc:
        raise EurostatError(f"the cached answer for {query.describe()} is corrupt ({exc}); "
                            "rerun with refresh=True to fetch it again") from exc
    return _parse_checked(path, dataset=query.dataset, url=entry.url, flags=flags)


def _data_url(base: str, code: str, key: str, start: str | None, end: str | None) -> str:
    return (f"{base}/data/{code.upper()}" + (f"/{key}" if key.strip(".") else "")
            + "?format=TSV&compressed=true" + (f"&startPeriod={start}" if start else "")
            + (f"&endPeriod={end}" if end else ""))


def get_eurostat(code: str, filters: Mapping[str, object] | None = None, *,
                 start: str | int | None = None, end: str | int | None = None, flags: bool = True,
                 refresh: bool = False, progress: bool | None = None,
                 client: Client | None = None) -> pd.DataFrame:
    """Download (or serve from cache/mirror) one Eurostat dataset as a tidy long frame.

    ``filters`` maps dimension ids (any case) to a code or a list of codes, e.g.
    ``{"geo": ["BG31", "BG41"], "unit": "PC_GDP"}``; a list is one request (``BG31+BG41``).
    ``start``/``end`` bound the period (``startPeriod``/``endPeriod``); they are compared as
    periods (see :func:`clusterstats.sdmx_tsv.in_period`). ``client`` says where answers come
    from (cache, offline, mirror, session, transport policy); None builds one from the
    environment (:meth:`Client.from_env`). The frame has the columns of
    :func:`clusterstats.sdmx_tsv.parse_tsv`, and ``df.attrs`` records the provenance: dataset,
    filters, url (the query's, after any redirects within the host), redirects, retrieved_at, last_update (Eurostat's
    UPDATE_DATA as written), vintage (ISO date) and vintage_kind, sha256 (of the raw bytes),
    integrity, source ("live", "cache" or "mirror") and, for the mirror, mirror_file and derived.

    What is checked before an answer is returned or cached, and what cannot be: see the module
    docstring.

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
    client : Client, optional
        Cache, offline flag, mirror, session and transport policy (default: from the
        environment).

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
    """
    client = client or Client.from_env()
    start = None if start is None else str(start)
    end = None if end is None else str(end)
    norm = _normalise_filters(filters)
    _check_bounds(code, start, end)
    base_attrs = dict(dataset=code, filters={k: list(v) for k, v in norm.items()}, start=start, end=end)

    if client.mirror is not None:
        df = _from_mirror(Path(client.mirror), code, norm, start, end, flags)
        df.attrs.update(base_attrs)
        return df
    if refresh and client.offline:
        raise OfflineError(_offline_refresh_message(code))

    # Structure answers are cached only after the data request succeeds, so that a failed query
    # (even with refresh=True) leaves the cache byte-identical.
    pending: list = []
    call = _Call(client, code)
    try:
        struct = get_structure(code, refresh=refresh, client=client, _pending=pending, _call=call)
    except OfflineError as exc:
        period = f"periods {start or '…'} to {end or '…'}" if (start or end) else "all periods"
        raise OfflineError(f"offline: cannot serve {code!r} with filters "
                           f"{ {k: list(v) for k, v in norm.items()} }, {period}. {exc}") from exc
    _check_filters(struct, norm)
    key = build_key(struct.dimensions, norm)
    query = Query(dataset=code, key=key, start=start, end=end, format="TSV")
    url = _data_url(client.base_url, code, key, start, end)

    entry = None if refresh else _cached(client.cache, query, code)
    redirects: tuple[str, ...] = ()
    if entry is not None:
        df = _from_cache(entry, query, flags)
        source, retrieved_at, last_update, url = "cache", entry.retrieved_at, entry.last_update, entry.url
        sha, integrity = entry.sha256, "sha256 of the cached object verified"
    elif client.offline:
        raise OfflineError(
            f"offline (CLUSTERSTATS_OFFLINE=1 or Client(offline=True)) and this query is not in the "
            f"cache at {client.cache.root}: {query.describe()}. Run it once online, or point "
            f"CLUSTERSTATS_MIRROR at a folder of recorded files. URL: {url}")
    else:
        df, sha, url, redirects, integrity = _fetch_live(
            client, call, struct, query, url, pending, progress, flags,
            _size_note(struct, norm, start, end))
        retrieved_at, last_update, source = _now(), struct.last_update, "live"

    df = _apply(df, {d: v for d, v in norm.items() if d in df.columns}, start, end)
    stamp = iso_timestamp(last_update)
    df.attrs = {
        **base_attrs, "key": key, "url": url, "redirects": list(redirects),
        "retrieved_at": retrieved_at, "last_update": last_update,
        "vintage": stamp[:10] if stamp else None,
        "vintage_kind": "UPDATE_DATA" if stamp else "unknown",
        "sha256": sha, "integrity": integrity, "source": source, "query_id": query.id,
    }
    return df
