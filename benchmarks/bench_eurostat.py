"""Benchmark: clusterstats.get_eurostat vs the eurostat package, on the same loopback replay.

Run by hand (not part of pytest):

    .venv/bin/python benchmarks/bench_eurostat.py                  # 0.25 M, 2.5 M, 10 M cells
    .venv/bin/python benchmarks/bench_eurostat.py --cells 250000   # one size

What is measured, per payload size, each case in a fresh Python subprocess:

* ``ours``:   ``get_eurostat(code)`` end to end (structure requests, download, validation,
  parse to long, write to an empty cache).
* ``theirs``: ``eurostat.get_data_df(code, flags=True)`` (the package pointed at the same server)
  plus ``melt`` of its wide ``YYYY_value``/``YYYY_flag`` columns to the same long shape.

Wall time (``time.perf_counter`` around the call), peak memory (``VmHWM`` of the subprocess, its
peak resident set, which includes the interpreter and imported libraries; the peak just before the
call, after importing both clients, is printed too) and HTTP requests counted by the server. Then a multi-valued query (6 regions x 4 sectors)
is run through both clients to count requests.

The payloads are synthetic but in the real SDMX 2.1 TSV format (header ``freq,sectperf,unit,
geo\\TIME_PERIOD``, periods 2000-2024 with trailing spaces, ``:`` for missing, flags ``p``, ``e``,
``b``, ``bp``, ``u``, ``: c``), served with CRLF and gzip like the live service. They are scale
fixtures only; no number from them is a statistic.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the loopback replay server lives with the tests

CODE = "bench_synth"
BG_NUTS2 = ["BG31", "BG32", "BG33", "BG34", "BG41", "BG42"]
SECTORS = ["BES", "GOV", "HES", "PNP", "TOTAL"]
UNITS = ["EUR_HAB", "MIO_EUR", "MIO_NAC", "MIO_PPS", "PC_GDP", "PPS_HAB", "PC_TOT", "THS"]
PERIODS = [str(y) for y in range(2000, 2025)]


def make_payload(cells: int, path: Path, seed: int = 2018) -> None:
    """Write a synthetic SDMX 2.1 TSV with about ``cells`` cells (LF; the server sends CRLF)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    n_geo = max(len(BG_NUTS2), round(cells / len(PERIODS) / len(SECTORS) / len(UNITS)))
    geos = BG_NUTS2 + [f"Z{i:05d}" for i in range(n_geo - len(BG_NUTS2))]
    keys = [f"A,{s},{u},{g}" for s in SECTORS for u in UNITS for g in geos]
    n = len(keys)
    columns = []
    for _ in PERIODS:
        values = pc.cast(pa.array(np.round(rng.gamma(2.0, 300.0, n), 2)), pa.string())
        draw = rng.random(n)
        # ~12% not available (some confidential), ~10% flagged, like real regional R&D tables
        flag = np.where(draw < 0.03, "p", np.where(draw < 0.06, "e", np.where(
            draw < 0.08, "b", np.where(draw < 0.09, "bp", np.where(draw < 0.10, "u", "")))))
        cell = pc.binary_join_element_wise(values, pa.array(flag), " ")
        missing = rng.random(n)
        cell = pc.if_else(pa.array(missing < 0.11), ": ", cell)
        cell = pc.if_else(pa.array(missing < 0.01), ": c", cell)
        columns.append(cell)
    rows = pc.binary_join_element_wise(pa.array(keys), *columns, "\t")
    header = "freq,sectperf,unit,geo\\TIME_PERIOD\t" + "\t".join(p + " " for p in PERIODS)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + "\n")
        fh.write("\n".join(rows.to_pylist()))
        fh.write("\n")


# --------------------------------------------------------------------------- worker (subprocess)
def peak_rss_mb() -> float:
    """Peak resident memory of this process's address space (VmHWM), in MB.

    Not ``ru_maxrss``: on Linux that keeps the parent's RSS at fork time across exec, so every
    worker would report at least the size of the parent (which holds the payload for the server).
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def worker(which: str, base: str, query: str | None) -> dict:
    import pandas as pd

    filters = json.loads(query) if query else None
    # import both clients in both cases, so the baseline (interpreter + libraries) is the same
    import eurostat
    import eurostat.eurostat as pkg

    import clusterstats.eurostat as es
    import clusterstats.sdmx_tsv  # noqa: F401  (pulls in pyarrow)

    before = peak_rss_mb()
    if which == "ours":
        es.settings.progress = False
        t0 = time.perf_counter()
        df = es.get_eurostat(CODE, filters)
        wall = time.perf_counter() - t0
        values = df["value"]
    else:
        pkg.__Uri__.BASE_URL["EUROSTAT"] = base + "/"
        t0 = time.perf_counter()
        wide = eurostat.get_data_df(CODE, flags=True, filter_pars=filters or {})
        ids = [c for c in wide.columns if not c.endswith(("_value", "_flag"))]
        vcols = [c for c in wide.columns if c.endswith("_value")]
        long = wide.melt(id_vars=ids, value_vars=vcols, var_name="time", value_name="value")
        long["flag"] = wide.melt(value_vars=[c[:-6] + "_flag" for c in vcols])["value"].to_numpy()
        long["time"] = long["time"].str[:-6]
        wall = time.perf_counter() - t0
        values = pd.to_numeric(long["value"])
        df = long
    return {"wall_s": wall, "peak_mb": peak_rss_mb(), "before_mb": before, "rows": len(df),
            "n_values": int(values.notna().sum()), "sum": float(values.sum())}


def run_worker(which: str, base: str, cache: str, query: dict | None = None) -> dict:
    env = dict(os.environ, CLUSTERSTATS_EUROSTAT_URL=base, CLUSTERSTATS_CACHE=cache)
    env.pop("CLUSTERSTATS_MIRROR", None)
    env.pop("CLUSTERSTATS_OFFLINE", None)
    cmd = [sys.executable, __file__, "--worker", which, "--base", base]
    if query:
        cmd += ["--query", json.dumps(query)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{which} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def grow(r: dict) -> float:
    """Peak memory above the baseline measured after imports, before the call (MB, >= 1)."""
    return max(r["peak_mb"] - r["before_mb"], 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, nargs="*", default=[250_000, 2_500_000, 10_000_000])
    ap.add_argument("--worker", choices=["ours", "theirs"])
    ap.add_argument("--base")
    ap.add_argument("--query")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each case this many times (alternating) and keep the fastest run")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.base, args.query)))
        return 0

    import urllib.request

    from replay_server import ReplayServer

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_eurostat_") as tmp:
        tmp = Path(tmp)
        for cells in args.cells:
            payload = tmp / f"payload_{cells}.tsv"
            make_payload(cells, payload)
            with ReplayServer() as server:
                ds = server.add_dataset(CODE, payload)
                n_cells = len(ds.rows) * len(ds.periods)
                urllib.request.urlopen(f"{server.base_url}/data/{CODE.upper()}?format=TSV&compressed=true").read()
                result = {}
                for rep in range(args.repeat):
                    for which in ("theirs", "ours"):
                        server.requests.clear()
                        r = run_worker(which, server.base_url, str(tmp / f"cache_{which}_{cells}_{rep}"))
                        r["requests"] = len(server.requests)
                        if which not in result or r["wall_s"] < result[which]["wall_s"]:
                            result[which] = r
                        print(f"{n_cells:>11,} cells  {which:6s}  {r['wall_s']:8.2f} s  peak {r['peak_mb']:8.0f} MB "
                              f"(before call {r['before_mb']:.0f} MB)  rows {r['rows']:,}  "
                              f"requests {r['requests']}", flush=True)
                o, t = result["ours"], result["theirs"]
                same = o["n_values"] == t["n_values"] and abs(o["sum"] - t["sum"]) <= 1e-9 * abs(t["sum"])
                rows.append((n_cells, t, o, same))
                print(f"{'':>17}speed-up {t['wall_s'] / o['wall_s']:.1f}x, peak memory "
                      f"{o['peak_mb'] / t['peak_mb']:.2f} of theirs (above the import baseline: "
                      f"{grow(o) / grow(t):.2f}), same numbers: {same}", flush=True)
        # request count for a multi-valued filter, on the smallest payload
        payload = tmp / f"payload_{min(args.cells)}.tsv"
        query = {"geo": BG_NUTS2, "sectperf": ["BES", "GOV", "HES", "PNP"]}
        with ReplayServer() as server:
            server.add_dataset(CODE, payload)
            counts = {}
            for which in ("theirs", "ours"):
                server.requests.clear()
                r = run_worker(which, server.base_url, str(tmp / f"cacheq_{which}"), query)
                counts[which] = (len(server.data_requests()), len(server.requests), r["n_values"])
        print(f"\n6 regions x 4 sectors: theirs {counts['theirs'][0]} data requests "
              f"({counts['theirs'][1]} in all), ours {counts['ours'][0]} ({counts['ours'][1]} in all); "
              f"values {counts['theirs'][2]} vs {counts['ours'][2]}")

    print("\n| cells | eurostat pkg + melt: time | peak MB (above baseline) | clusterstats: time "
          "| peak MB (above baseline) | speed-up | peak ratio (above baseline) | same numbers |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---:|")
    for n_cells, t, o, same in rows:
        print(f"| {n_cells:,} | {t['wall_s']:.2f} s | {t['peak_mb']:.0f} ({grow(t):.0f}) | "
              f"{o['wall_s']:.2f} s | {o['peak_mb']:.0f} ({grow(o):.0f}) | "
              f"{t['wall_s'] / o['wall_s']:.1f}x | {o['peak_mb'] / t['peak_mb']:.2f} "
              f"({grow(o) / grow(t):.2f}) | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
