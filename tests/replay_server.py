"""A loopback HTTP server that replays recorded Eurostat TSV files as the live SDMX 2.1 API would.

What is recorded and what is constructed:

* **data** (``/data/<CODE>[/<key>]?format=TSV&compressed=true``): the bytes of a recorded file from
  the shared mirror, restricted to the rows the SDMX key selects and the columns between
  ``startPeriod`` and ``endPeriod``, with **CRLF** line endings and **gzip** as the live service
  sends them (the recorded files are LF). Cells are passed through untouched.
* **structure** (``/dataflow``, ``/datastructure``, ``/contentconstraint``): no Eurostat structure
  response was ever recorded, so these are minimal SDMX-ML messages *constructed* from the TSV
  header (dimension ids and order) and the codes present in the file. Tests relying on them are
  marked ``constructed``.

Faults can be queued for data requests (``server.queue_faults(...)``) and for structure requests
(``server.queue_structure_faults(...)``) to exercise retries and validation: statuses with any
headers (429/503 with ``Retry-After``, 3xx with ``Location`` to this or another server), trickled
bodies, truncation (gzip, or a plain body cut at a line end with or without a matching
``Content-Length``), a changed structure (a dimension missing, a series row sent twice), a bad
byte in a header period, a space inside a value. A dataset can be replaced by another vintage
(``add_dataset`` again, or :meth:`RecordedDataset.from_frame` for a recorded SDMX-CSV file).
Every request is logged in ``server.requests`` (and its headers in ``server.headers``) so tests
can count them.

Usage::

    with ReplayServer() as server:
        server.add_dataset("tgs00042", mirror_dir() / "eurostat/tgs00042/estat_tgs00042.tsv")
        os.environ["CLUSTERSTATS_EUROSTAT_URL"] = server.base_url
"""
from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

PREFIX = "/eurostat/api/dissemination/sdmx/2.1"
ASYNC_PREFIX = "/eurostat/api/dissemination/1.0/async"
_M = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message"
_S = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure"
_C = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common"


@dataclass
class RecordedDataset:
    code: str
    header_dims: list[str]          # lower-case ids from the header, in file order
    time_label: str                 # "TIME_PERIOD" or "time"
    periods: list[str]              # stripped, in file order
    header_line: str
    rows: list[tuple[list[str], str]]  # (codes, the original line)
    last_update: str | None = None

    @classmethod
    def from_file(cls, code: str, path: Path, last_update: str | None = None) -> "RecordedDataset":
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        lines = [ln for ln in raw.decode("utf-8").replace("\r\n", "\n").split("\n") if ln]
        head = lines[0].split("\t")
        dims_part, time_label = head[0].split("\\", 1)
        rows = [(ln.split("\t", 1)[0].split(","), ln) for ln in lines[1:]]
        return cls(code.upper(), [d.lower() for d in dims_part.split(",")], time_label,
                   [p.strip() for p in head[1:]], lines[0], rows, last_update)

    @classmethod
    def from_frame(cls, code: str, df, last_update: str | None = None) -> "RecordedDataset":
        """The TSV the live service would send for a tidy frame read from a recorded file (e.g.
        the SDMX-CSV 2.0 vintage of tgs00042 via ``read_eurostat_file``). Values are written in
        shortest round-trip form, flags as read (``b``, ``@C``); no value is changed."""
        import math

        dims = [c for c in df.columns if c not in ("time", "value", "flag")]
        periods = sorted(df["time"].astype(str).unique())
        cells: dict[tuple, dict[str, str]] = {}
        for row in zip(*(df[c].astype(str) for c in dims), df["time"].astype(str), df["value"],
                       df["flag"].astype(object)):
            key, period, value, flag = tuple(row[:len(dims)]), row[-3], row[-2], row[-1]
            text = ":" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))
            cells.setdefault(key, {})[period] = f"{text} {flag if isinstance(flag, str) else ''}"
        header = ",".join(dims) + "\\TIME_PERIOD\t" + "\t".join(f"{p} " for p in periods)
        rows = [(list(k), ",".join(k) + "\t" + "\t".join(v.get(p, ": ") for p in periods))
                for k, v in cells.items()]
        return cls(code.upper(), dims, "TIME_PERIOD", periods, header, rows, last_update)

    def codes(self, i: int) -> list[str]:
        return sorted({codes[i] for codes, _ in self.rows})

    def select(self, key: str | None, start: str | None, end: str | None) -> list[str]:
        """The lines the live service would return for this key and period range (LF-free)."""
        wanted: list[set[str] | None] = [None] * len(self.header_dims)
        if key:
            slots = key.split(".")
            if len(slots) != len(self.header_dims):
                raise ValueError(f"key {key!r} has {len(slots)} slots, dataset has {len(self.header_dims)}")
            wanted = [set(s.split("+")) if s else None for s in slots]
        keep = [j for j, p in enumerate(self.periods)
                if (start is None or p[: len(start)] >= start) and (end is None or p[: len(end)] <= end)]
        head = self.header_line.split("\t")
        out = ["\t".join([head[0]] + [head[1 + j] for j in keep])]
        for codes, line in self.rows:
            if all(w is None or c in w for w, c in zip(wanted, codes)):
                fields = line.split("\t")
                out.append("\t".join([fields[0]] + [fields[1 + j] for j in keep]))
        return out


def _wire(lines: list[str]) -> bytes:
    return gzip.compress(("\r\n".join(lines) + "\r\n").encode("utf-8"), compresslevel=6, mtime=0)


def dataflow_xml(ds: RecordedDataset) -> bytes:
    ann = ""
    if ds.last_update:
        ann = (f"<c:Annotations><c:Annotation><c:AnnotationTitle>{escape(ds.last_update)}"
               "</c:AnnotationTitle><c:AnnotationType>UPDATE_DATA</c:AnnotationType>"
               "</c:Annotation></c:Annotations>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><m:Structure xmlns:m="{_M}" xmlns:s="{_S}" '
            f'xmlns:c="{_C}"><m:Header><m:ID>constructed</m:ID></m:Header><m:Structures>'
            f'<s:Dataflows><s:Dataflow id="{ds.code}" agencyID="ESTAT" version="1.0">{ann}'
            f'<c:Name xml:lang="en">{ds.code}</c:Name><s:Structure><Ref id="{ds.code}" '
            'version="1.0" agencyID="ESTAT" package="datastructure" class="DataStructure"/>'
            "</s:Structure></s:Dataflow></s:Dataflows></m:Structures></m:Structure>").encode()


def datastructure_xml(ds: RecordedDataset, order: list[int] | None = None) -> bytes:
    """DSD with one Dimension per header dimension; ``order`` lists them in another XML order."""
    idx = order or list(range(len(ds.header_dims)))
    dims = "".join(
        f'<s:Dimension id="{ds.header_dims[i]}" position="{i + 1}"><s:LocalRepresentation>'
        f'<s:Enumeration><Ref id="{ds.header_dims[i].upper()}" version="1.0" agencyID="ESTAT" '
        'package="codelist" class="Codelist"/></s:Enumeration></s:LocalRepresentation></s:Dimension>'
        for i in idx)
    time_pos = len(ds.header_dims) + 1
    return (f'<?xml version="1.0" encoding="UTF-8"?><m:Structure xmlns:m="{_M}" xmlns:s="{_S}" '
            f'xmlns:c="{_C}"><m:Header><m:ID>constructed</m:ID></m:Header><m:Structures>'
            f'<s:DataStructures><s:DataStructure id="{ds.code}" agencyID="ESTAT" version="1.0">'
            f'<s:DataStructureComponents><s:DimensionList id="DimensionDescriptor">{dims}'
            f'<s:TimeDimension id="TIME_PERIOD" position="{time_pos}"/></s:DimensionList>'
            "</s:DataStructureComponents></s:DataStructure></s:DataStructures></m:Structures>"
            "</m:Structure>").encode()


def constraint_xml(ds: RecordedDataset) -> bytes:
    kvs = "".join(
        f'<c:KeyValue id="{d}">' + "".join(f"<c:Value>{escape(v)}</c:Value>" for v in ds.codes(i))
        + "</c:KeyValue>" for i, d in enumerate(ds.header_dims))
    kvs += '<c:KeyValue id="TIME_PERIOD">' + "".join(
        f"<c:Value>{p}</c:Value>" for p in sorted(ds.periods)) + "</c:KeyValue>"
    return (f'<?xml version="1.0" encoding="UTF-8"?><m:Structure xmlns:m="{_M}" xmlns:s="{_S}" '
            f'xmlns:c="{_C}"><m:Header><m:ID>constructed</m:ID></m:Header><m:Structures>'
            f'<s:Constraints><s:ContentConstraint id="{ds.code}" agencyID="ESTAT" type="Actual">'
            f'<s:CubeRegion include="true">{kvs}</s:CubeRegion></s:ContentConstraint>'
            "</s:Constraints></m:Structures></m:Structure>").encode()


def async_xml(key: str, status: str, queued: bool) -> bytes:
    if queued:  # the first answer to a data request that Eurostat decides to run asynchronously
        body = (f'<ns0:syncResponse xmlns:ns0="http://estat.ec.europa.eu/disschain/soap/extraction">'
                f"<queued><id>{key}</id><status>{status}</status></queued></ns0:syncResponse>")
    else:
        body = ('<ns0:asyncResponse xmlns:ns0="http://estat.ec.europa.eu/disschain/soap/asynchronous">'
                '<ns1:status xmlns:ns1="http://estat.ec.europa.eu/disschain/asynchronous">'
                f"<ns1:key>{key}</ns1:key><ns1:status>{status}</ns1:status></ns1:status>"
                "</ns0:asyncResponse>")
    return ('<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Header/>'
            f"<env:Body>{body}</env:Body></env:Envelope>").encode()


@dataclass
class Fault:
    """One scripted misbehaviour for the next data request.

    kind: "status" (send ``status`` with ``headers``/``body``), "sleep" (wait ``seconds`` before
    answering normally), "truncate" (half of the gzip), "html" (an HTML page with 200), "empty"
    (200 with no body), "header_only" (the TSV header and no rows), "malformed" (drop the last
    cell of one row), "async" (queue the extraction; ``polls`` status answers before AVAILABLE),
    "trickle" (the normal body a few bytes every ``seconds``), "plain_cut" (a plain, uncompressed
    body cut after half of its lines, at a line end, with the full ``Content-Length``),
    "plain_cut_consistent" (the same cut body with a ``Content-Length`` that matches it),
    "plain" (the whole body uncompressed), "drop_dimension" (the second dimension removed from
    header and keys), "duplicate_row" (one series row sent twice), "bad_header_byte" (a byte of
    the first period in the header replaced by 0xFF), "space_in_value" (a space inside the
    first numeric cell, as in ``1 234``).
    For structure faults (``queue_structure_faults``) only "status" and "html" apply.
    """

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    polls: int = 1


class ReplayServer:
    def __init__(self):
        self.datasets: dict[str, RecordedDataset] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.faults: list[Fault] = []
        self.structure_faults: list[Fault] = []
        self.headers: list[dict[str, str]] = []
        self.dsd_order: dict[str, list[int]] = {}
        self._async: dict[str, dict] = {}
        self._wire_memo: dict[tuple, bytes] = {}  # big payloads are compressed once (benchmark)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- setup
    def add_dataset(self, code: str, path: Path, last_update: str | None = None) -> RecordedDataset:
        return self.add_recorded(RecordedDataset.from_file(code, Path(path), last_update))

    def queue_faults(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def queue_structure_faults(self, *faults: Fault) -> None:
        self.structure_faults.extend(faults)

    def add_recorded(self, ds: RecordedDataset) -> RecordedDataset:
        """Serve ``ds`` (e.g. another vintage) from now on; drops answers compressed earlier."""
        self.datasets[ds.code] = ds
        self._wire_memo = {k: v for k, v in self._wire_memo.items() if k[0] != ds.code}
        return ds

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{PREFIX}"

    def data_requests(self) -> list[tuple[str, dict[str, list[str]]]]:
        return [r for r in self.requests if r[0].startswith(PREFIX + "/data/")]

    # -- lifecycle
    def start(self) -> "ReplayServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- request handling
    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
              headers: dict[str, str] | None = None, length: int | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        with self._lock:
            self.requests.append((path, query))
            self.headers.append(dict(h.headers.items()))
        segs = path.split("/")
        xml = "application/xml"
        if path.startswith(ASYNC_PREFIX + "/"):
            return self._handle_async(h, segs[-2], segs[-1])
        if not path.startswith(PREFIX + "/"):
            return self._send(h, 404, b"not found", "text/plain")
        rest = path[len(PREFIX) + 1:].split("/")
        kind, args = rest[0], rest[1:]
        if kind in ("dataflow", "datastructure", "contentconstraint"):
            ds = self.datasets.get(args[1].upper()) if len(args) > 1 else None
            if ds is None:
                return self._send(h, 404, b"<S:Fault>No such dataflow</S:Fault>", xml)
            with self._lock:
                sfault = self.structure_faults.pop(0) if self.structure_faults else None
            if sfault is not None and sfault.kind == "status":
                return self._send(h, sfault.status, sfault.body, "text/plain", sfault.headers)
            if sfault is not None and sfault.kind == "html":
                return self._send(h, 200, b"<!DOCTYPE html><html><head><title>Eurostat - Service "
                                  b"unavailable</title></head><body>Maintenance</body></html>", "text/html")
            if kind == "dataflow":
                return self._send(h, 200, dataflow_xml(ds), xml)
            if kind == "datastructure":
                return self._send(h, 200, datastructure_xml(ds, self.dsd_order.get(ds.code)), xml)
            return self._send(h, 200, constraint_xml(ds), xml)
        if kind != "data" or not args:
            return self._send(h, 404, b"unknown resource", "text/plain")
        ds = self.datasets.get(args[0].upper())
        if ds is None:
            return self._send(h, 404, b"No such dataset", "text/plain")
        key = args[1] if len(args) > 1 else None
        start = query.get("startPeriod", [None])[0]
        end = query.get("endPeriod", [None])[0]
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        gz = "application/octet-stream"
        memo = (ds.code, key, start, end)
        if fault is None and memo in self._wire_memo:
            return self._send(h, 200, self._wire_memo[memo], gz)
        try:
            lines = ds.select(key, start, end)
        except ValueError as exc:
            return self._send(h, 400, str(exc).encode(), "text/plain")
        if fault is None:
            if len(lines) == 1 or "\t" not in lines[0]:  # no series or no period selected
                return self._send(h, 404, b'{"error":{"status":404,"label":"No results found"}}',
                                  "application/json")
            self._wire_memo[memo] = _wire(lines)
            return self._send(h, 200, self._wire_memo[memo], gz)
        if fault.kind == "status":
            return self._send(h, fault.status, fault.body, "text/plain", fault.headers)
        if fault.kind == "sleep":
            time.sleep(fault.seconds)
            return self._send(h, 200, _wire(lines), gz)
        if fault.kind == "truncate":
            body = _wire(lines)
            return self._send(h, 200, body[: len(body) // 2], gz)
        if fault.kind == "html":
            return self._send(h, 200, b"<!DOCTYPE html><html><head><title>Eurostat - Service "
                              b"unavailable</title></head><body>Maintenance</body></html>", "text/html")
        if fault.kind == "empty":
            return self._send(h, 200, b"", gz)
        if fault.kind == "header_only":
            return self._send(h, 200, _wire(lines[:1]), gz)
        if fault.kind == "malformed":
            bad = list(lines)
            bad[len(bad) // 2] = bad[len(bad) // 2].rsplit("\t", 1)[0]
            return self._send(h, 200, _wire(bad), gz)
        if fault.kind in _BODY_FAULTS:
            return _BODY_FAULTS[fault.kind](self, h, lines, fault)
        if fault.kind == "async":
            ticket = f"ticket-{len(self._async) + 1}"
            with self._lock:
                self._async[ticket] = {"polls_left": fault.polls, "body": _wire(lines)}
            return self._send(h, 200, async_xml(ticket, "SUBMITTED", queued=True), xml)
        raise ValueError(f"unknown fault {fault.kind!r}")

    def _handle_async(self, h: BaseHTTPRequestHandler, what: str, ticket: str) -> None:
        job = self._async.get(ticket)
        xml = "application/xml"
        if job is None:
            return self._send(h, 200, async_xml(ticket, "UNKNOWN_REQUEST", queued=False), xml)
        if what == "status":
            with self._lock:
                job["polls_left"] -= 1
                status = "PROCESSING" if job["polls_left"] > 0 else "AVAILABLE"
            return self._send(h, 200, async_xml(ticket, status, queued=False), xml)
        return self._send(h, 200, job["body"], "application/octet-stream")


# --------------------------------------------------------------------------- more body faults
def _plain(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _trickle(server: ReplayServer, h, lines, fault: Fault) -> None:
    body = _wire(lines)
    try:
        h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        step = max(1, len(body) // 200)
        for i in range(0, len(body), step):
            h.wfile.write(body[i:i + step])
            h.wfile.flush()
            time.sleep(fault.seconds)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _plain_cut(server: ReplayServer, h, lines, fault: Fault) -> None:
    full = _plain(lines)
    cut = _plain(lines[: max(2, len(lines) // 2)])
    length = len(cut) if fault.kind == "plain_cut_consistent" else len(full)
    try:
        h.send_response(200)
        h.send_header("Content-Type", "text/tab-separated-values")
        h.send_header("Content-Length", str(length))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(cut)
        h.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    h.close_connection = True


def _changed(server: ReplayServer, h, lines, fault: Fault) -> None:
    out = list(lines)
    if fault.kind == "drop_dimension":
        def drop(line: str) -> str:
            key, rest = line.split("\t", 1)
            head, sep, tail = key.partition("\\")
            codes = head.split(",")
            return ",".join(codes[:1] + codes[2:]) + sep + tail + "\t" + rest
        out = [drop(ln) for ln in out]
    elif fault.kind == "duplicate_row":
        out.insert(2, out[1])
    elif fault.kind == "space_in_value":
        for i in range(1, len(out)):
            fields = out[i].split("\t")
            j = next((j for j in range(1, len(fields)) if fields[j][:1].isdigit() and len(fields[j].split(" ")[0]) > 1), None)
            if j is not None:
                fields[j] = fields[j][0] + " " + fields[j][1:]
                out[i] = "\t".join(fields)
                break
    body = _wire(out)
    if fault.kind == "bad_header_byte":
        text = _plain(out)
        first_period = text.index(b"\t") + 4  # the 4th digit of the first period label
        text = text[:first_period] + b"\xff" + text[first_period + 1:]
        body = gzip.compress(text, mtime=0)
    if fault.kind == "plain":
        body = _plain(out)
    server._send(h, 200, body, "application/octet-stream")


_BODY_FAULTS = {"trickle": _trickle, "plain_cut": _plain_cut, "plain_cut_consistent": _plain_cut,
                "drop_dimension": _changed, "duplicate_row": _changed, "space_in_value": _changed,
                "bad_header_byte": _changed, "plain": _changed}
