"""Build ``data/nuts/nuts2_correspondence.csv`` and ``data/nuts/series_nuts_versions.csv``.

The correspondence between NUTS versions at level 2 comes from the recorded boundaries in
``<shared>/mirror/gisco/nuts2json/<version>/nutsrg_2.json`` (eurostat/Nuts2json, EPSG:3035,
1:60 million; see ``mirror/PROVENANCE.md``) and, for the few regions outside that map's frame,
from the GISCO NUTS 2016 and 2021 files in ``mirror/gisco/nuts/``. The table of which NUTS
version each shipped regional series uses is derived from the shipped snapshot
(``data/eurostat``) by matching each series' codes per country against the versions' code sets.
``data/nuts/README.md`` describes the method, the tolerances and the review.

::

    .venv/bin/python tools/build_nuts_correspondence.py          # rewrite data/nuts/*.csv
    .venv/bin/python tools/build_nuts_correspondence.py --check  # exit 1 if they would change

Needs the shared mirror (``../shared`` or ``CLUSTERSTATS_SHARED``); the written tables do not.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clusterstats import nuts  # noqa: E402
from clusterstats._paths import data_dir, mirror_dir  # noqa: E402
from clusterstats.provenance import atomic_write_text  # noqa: E402
from clusterstats.snapshot import load_snapshot  # noqa: E402

OUT = data_dir() / "nuts"
#: sha256 of the recorded boundary files (mirror/PROVENANCE.md); a different file is refused.
BOUNDARY_SHA256 = {
    2010: "b336185fdff714495acd8255301dfac6367c997e509a2fafd6fc58da395ba9e9",
    2013: "db8087cdeca956b56e76975d417c23fea0644e75b35528882ead5b5c85777640",
    2016: "1e9dae4533fe6da1e80522a35b362621331dc67c6762948a12779cd50376b63f",
    2021: "3989679fec69ce684079f52dfb66673937504fc55807b2f4c272dd44857848d2",
    2024: "18245cdb2e9d2136ed803b71734686d9ccd4d50499e86d8a7f6f6ff8b5cf9c9d",
}
#: GISCO files that list every NUTS 2 code of 2016 and 2021, including regions outside the
#: EPSG:3035 frame of the 1:60M files (PT20, PT30, FRY1-FRY5).
FULL_CODE_FILES = {2016: "gisco/nuts/2016/NUTS_RG_01M_2016_4326_LEVL_2.geojson.gz",
                   2021: "gisco/nuts/2021/NUTS_RG_03M_2021_4326_LEVL_2.geojson.gz"}
#: Shipped series with NUTS 2 codes: snapshot entry -> (label, columns that split it into series).
SERIES = {
    "tgs00042": ("tgs00042 GERD % of GDP", []),
    "nama_10r_2gdp_2017": ("nama_10r_2gdp regional GDP", []),
    "nama_10r_2gdp_2026": ("nama_10r_2gdp regional GDP", []),
    "demo_r_pjanaggr3": ("demo_r_pjanaggr3 population 1 January", []),
    "tgs00096_tgs00003_nuts2": ("tgs00096 population / tgs00003 GDP (extract)", ["dataset"]),
    "rd_e_gerdreg_bes_eur_hab": ("rd_e_gerdreg BES EUR_HAB (Nesta extract)", []),
    "rd_e_gerdreg_gov_eur_hab": ("rd_e_gerdreg GOV EUR_HAB (Nesta extract)", []),
    "lfst_r_lfe2en2": ("lfst_r_lfe2en2 employment by NACE", []),
}
#: Correspondences added by review where the 1:60M boundaries cannot show a known transfer:
#: (country, from_code, to_code) -> reason; applied to every pair of versions holding both codes.
REVIEWED_EDGES = {
    ("NL", "NL33", "NL35"): (
        "reviewed: Leerdam and Zederik (Zuid-Holland) merged with Vianen (Utrecht) into "
        "Vijfheerenlanden, province of Utrecht, from 1 January 2019, so Utrecht grew and "
        "Zuid-Holland shrank (NL Times, 12 July 2018, https://nltimes.nl/2018/07/12/municipal-"
        "re-division-netherlands-25-fewer-municipalities-next-year); at 1:60M the transfer is "
        "below the tolerance, so this overlap was added by hand"),
}
#: Notes added by hand after reviewing the built table (country, from_version, to_version) -> note.
REVIEW_NOTES = {
    ("PT", 2021, 2024): "reviewed: matches issue 12 (PT17 = PT1A + PT1B; PT16, PT18 -> PT19, PT1C, PT1D)",
    ("PT", 2016, 2024): "reviewed: as 2021->2024 (PT unchanged 2016->2021)",
    ("HU", 2013, 2016): "reviewed: matches issue 12 (HU10 = HU11 + HU12)",
    ("SI", 2010, 2013): ("reviewed: recoding only as far as 1:60M boundaries can show; a transfer "
                         "of less than about 10% of a region's area would not be visible"),
}


# ------------------------------------------------------------------------------------------------
# Reading the boundaries
# ------------------------------------------------------------------------------------------------
def read_boundaries(version: int, mirror: Path):
    """One version's NUTS 2 regions as a GeoDataFrame (code, name, country, geometry) in EPSG:3035."""
    import geopandas as gpd
    import shapely
    from shapely.geometry import shape

    path = mirror / "gisco" / "nuts2json" / str(version) / "nutsrg_2.json"
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != BOUNDARY_SHA256[version]:
        raise SystemExit(f"{path}: sha256 {digest} is not the recorded {BOUNDARY_SHA256[version]}")
    feats = json.loads(raw)["features"]
    gdf = gpd.GeoDataFrame({"code": [f["properties"]["id"] for f in feats],
                            "name": [f["properties"]["na"] for f in feats]},
                           geometry=[shape(f["geometry"]) for f in feats], crs="EPSG:3035")
    # A few generalised rings self-touch; make_valid keeps their area and makes overlay exact.
    gdf["geometry"] = shapely.make_valid(gdf.geometry.values)
    gdf["country"] = gdf["code"].str[:2]
    return gdf


def full_codes(version: int, mirror: Path) -> dict[str, str]:
    """Code -> Latin name of every NUTS 2 region in the GISCO file of ``version`` (2016, 2021)."""
    with gzip.open(mirror / FULL_CODE_FILES[version]) as fh:
        feats = json.load(fh)["features"]
    return {f["properties"]["NUTS_ID"]: f["properties"]["NAME_LATN"] for f in feats
            if int(f["properties"]["LEVL_CODE"]) == 2}


def overlaps(a, b) -> pd.DataFrame:
    """Every same-country pair of regions of ``a`` and ``b`` whose areas intersect, with the
    intersection's share of each one's area."""
    import geopandas as gpd

    j = gpd.sjoin(a, b, predicate="intersects", lsuffix="a", rsuffix="b")
    j = j[j["country_a"] == j["country_b"]]
    import shapely

    inter = shapely.intersection(a.geometry.loc[j.index].values, b.geometry.loc[j["index_b"]].values)
    out = pd.DataFrame({"from_code": j["code_a"].values, "to_code": j["code_b"].values,
                        "area": shapely.area(inter)})
    out["share_of_from"] = out["area"] / a.set_index("code").area.loc[out["from_code"]].values
    out["share_of_to"] = out["area"] / b.set_index("code").area.loc[out["to_code"]].values
    return out[out["area"] > 0].drop(columns="area").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# From overlaps to correspondences
# ------------------------------------------------------------------------------------------------
def edges(ov: pd.DataFrame, codes_a: set[str], codes_b: set[str]) -> pd.DataFrame:
    """The overlaps that are correspondences.

    A code kept in both versions corresponds to itself (NUTS gives a changed region a new code;
    at 1:60M the polygons of a kept code can differ by up to half of a small region's area).
    An overlap that involves a code that is only in one of the versions counts when it covers
    at least ``nuts.EDGE_TOLERANCE`` of either region's area. Overlaps between two different
    kept codes are generalisation slivers and are left out.
    """
    kept = sorted((codes_a & codes_b) - set(ov.loc[ov["from_code"] == ov["to_code"], "from_code"]))
    # a kept code whose polygons do not overlap at all (ES64 Melilla, 2021 vs 2024) still matches
    ov = pd.concat([ov, pd.DataFrame({"from_code": kept, "to_code": kept, "share_of_from": 0.0,
                                      "share_of_to": 0.0})], ignore_index=True)
    same = (ov["from_code"] == ov["to_code"]) & ov["from_code"].isin(codes_b)
    changed = ~ov["from_code"].isin(codes_b) | ~ov["to_code"].isin(codes_a)
    big = ov[["share_of_from", "share_of_to"]].max(axis=1) >= nuts.EDGE_TOLERANCE
    reviewed = pd.Series([(f[:2], f, t) in REVIEWED_EDGES for f, t in zip(ov["from_code"], ov["to_code"])],
                         index=ov.index, dtype=bool)
    return ov[same | (changed & big) | reviewed].reset_index(drop=True)


def _relation(frm: list[str], to: list[str]) -> str:
    if len(frm) == 1 and len(to) == 1:
        return "unchanged" if frm == to else "recoded"
    if len(frm) == 1:
        return "split"
    if len(to) == 1:
        return "merged"
    return "boundary change"


def _reason(rel: str, rows: pd.DataFrame, a: int, b: int) -> str:
    frm = sorted(set(rows["from_code"]))
    to = sorted(set(rows["to_code"]))
    left, right = f"{' + '.join(frm)} ({a})", f"{' + '.join(to)} ({b})"
    shares = ", ".join(f"{r.from_code}->{r.to_code} {r.share_of_from:.2f}/{r.share_of_to:.2f}"
                       for r in rows.itertuples())
    text = {
        "unchanged": "",
        "recoded": f"recoded: {left} is {right}; areas agree ({shares})",
        "split": f"split: {left} = {right}; each new region lies within the old one ({shares})",
        "merged": f"merged: {left} = {right}; each old region lies within the new one ({shares})",
        "boundary change": (f"boundary change: {left} and {right} overlap across codes; only their "
                            f"union is comparable ({shares})"),
    }[rel]
    if rel == "unchanged" and rows["share_of_from"].iloc[0] < 0.9:
        text = (f"code kept, so taken as unchanged; the 1:60M polygons of {a} and {b} differ "
                f"({shares}), a generalisation difference")
    text += "; from the boundaries" if text else ""
    notes = [REVIEWED_EDGES[(f[:2], f, t)] for f, t in zip(rows["from_code"], rows["to_code"])
             if (f[:2], f, t) in REVIEWED_EDGES]
    if notes:
        text = text.replace("overlap across codes", "overlap across codes (one overlap added by review)")
        text += "; " + "; ".join(notes)
    return text


def classify(e: pd.DataFrame, a: int, b: int) -> pd.DataFrame:
    """Relation and reason per correspondence, from the connected components of the overlap graph
    of one pair of versions."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes = pd.Index(sorted(set("a:" + e["from_code"]) | set("b:" + e["to_code"])))
    i, j = nodes.get_indexer("a:" + e["from_code"]), nodes.get_indexer("b:" + e["to_code"])
    graph = coo_matrix((np.ones(len(e)), (i, j)), shape=(len(nodes), len(nodes)))
    _, label = connected_components(graph, directed=False)
    e = e.assign(component=label[i])
    parts = []
    for _, rows in e.groupby("component", sort=False):
        rel = _relation(sorted(set(rows["from_code"])), sorted(set(rows["to_code"])))
        parts.append(rows.assign(relation=rel, reason=_reason(rel, rows, a, b)))
    return pd.concat(parts).drop(columns="component")


def absent_rows(codes_a: dict[str, str], codes_b: dict[str, str], matched_a: set[str],
                matched_b: set[str], a: int, b: int) -> pd.DataFrame:
    """Rows for regions of one version with no correspondent in the other's recorded boundaries."""
    countries_b = {c[:2] for c in codes_b}
    countries_a = {c[:2] for c in codes_a}
    rows = []
    for code in sorted(set(codes_a) - matched_a):
        why = (f"country {code[:2]} is not in the NUTS {b} boundaries" if code[:2] not in countries_b
               else f"no region of the recorded NUTS {b} boundaries covers {code}")
        rows.append({"from_code": code, "to_code": "", "reason": why})
    for code in sorted(set(codes_b) - matched_b):
        why = (f"country {code[:2]} is not in the NUTS {a} boundaries" if code[:2] not in countries_a
               else f"no region of the recorded NUTS {a} boundaries covers {code}")
        rows.append({"from_code": "", "to_code": code, "reason": why})
    out = pd.DataFrame(rows, columns=["from_code", "to_code", "reason"])
    return out.assign(share_of_from=np.nan, share_of_to=np.nan, relation="absent")


def by_code_rows(full: dict[int, dict[str, str]], recorded: dict[int, set[str]], a: int,
                 b: int) -> pd.DataFrame:
    """Regions with no 1:60M boundary that carry the same code in both GISCO code lists."""
    if a not in full or b not in full:
        return pd.DataFrame(columns=["from_code", "to_code"])
    codes = sorted((set(full[a]) & set(full[b])) - recorded[a] - recorded[b])
    reason = (f"outside the EPSG:3035 frame of the 1:60M files, so no boundary; the same code is in "
              f"the GISCO NUTS {a} and {b} files ({FULL_CODE_FILES[a].split('/')[-1]}, "
              f"{FULL_CODE_FILES[b].split('/')[-1]}); matched by code")
    return pd.DataFrame({"from_code": codes, "to_code": codes, "share_of_from": np.nan,
                         "share_of_to": np.nan, "relation": "unchanged (by code)",
                         "reason": reason})


def pair_table(a: int, b: int, geo: dict, full: dict) -> pd.DataFrame:
    """All rows of the correspondence from version ``a`` to version ``b``."""
    ga, gb = geo[a], geo[b]
    codes_a, codes_b = set(ga["code"]), set(gb["code"])
    e = classify(edges(overlaps(ga, gb), codes_a, codes_b), a, b)
    names_a = dict(zip(ga["code"], ga["name"]))
    names_b = dict(zip(gb["code"], gb["name"]))
    rows = pd.concat([e, absent_rows(names_a, names_b, set(e["from_code"]), set(e["to_code"]), a, b),
                      by_code_rows(full, {a: codes_a, b: codes_b}, a, b)], ignore_index=True)
    names_a.update(full.get(a, {}))
    names_b.update(full.get(b, {}))
    for (country, x, y), note in REVIEW_NOTES.items():
        hit = ((rows["from_code"].str[:2] == country) | (rows["to_code"].str[:2] == country)) & (
            x == a) & (y == b) & ~rows["relation"].isin(["unchanged", "unchanged (by code)"])
        rows.loc[hit, "reason"] = rows.loc[hit, "reason"] + "; " + note
    rows["from_name"] = rows["from_code"].map(names_a).fillna("")
    rows["to_name"] = rows["to_code"].map(names_b).fillna("")
    return rows.assign(from_version=a, to_version=b)


def build_correspondence(mirror: Path) -> pd.DataFrame:
    """The correspondence table for every pair of versions in :data:`nuts.VERSIONS`."""
    geo = {v: read_boundaries(v, mirror) for v in nuts.VERSIONS}
    full = {v: full_codes(v, mirror) for v in FULL_CODE_FILES}
    tab = pd.concat([pair_table(a, b, geo, full) for a, b in itertools.combinations(nuts.VERSIONS, 2)],
                    ignore_index=True)
    tab["country"] = np.where(tab["from_code"] != "", tab["from_code"].str[:2], tab["to_code"].str[:2])
    for col in ("share_of_from", "share_of_to"):
        tab[col] = tab[col].round(3)
    tab = tab.sort_values(["from_version", "to_version", "country", "from_code", "to_code"])
    return tab[list(nuts.CORRESPONDENCE_COLUMNS)].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# Which NUTS version each shipped series uses
# ------------------------------------------------------------------------------------------------
def _series_frames():
    for entry, (label, split) in SERIES.items():
        df = load_snapshot(entry)
        vintage = df.attrs.get("vintage", "")
        df = df[df["value"].notna()]
        if not split:
            yield entry, label, vintage, df
            continue
        for key, sub in df.groupby(split, observed=True):
            yield f"{entry}:{key[0] if isinstance(key, tuple) else key}", label, vintage, sub


def build_series_versions(corr: pd.DataFrame) -> pd.DataFrame:
    """Per series, country and run of years with the same code set: the matching NUTS versions."""
    rows = []
    for series, label, vintage, df in _series_frames():
        geo = df["geo"].astype(str)
        df = df[(geo.str.len() == 4) & geo.str[:2].str.isalpha() & ~geo.str.endswith(("ZZ", "XX"))
                & ~geo.str.match(r"^(EU|EA)")]
        df = df.assign(geo=df["geo"].astype(str), time=df["time"].astype(int))
        for country, sub in df.groupby(df["geo"].str[:2]):
            codes_by_year = sub.groupby("time")["geo"].agg(lambda s: frozenset(s))
            for years, codes in _runs(codes_by_year):
                m = nuts.match_version(sorted(codes), country, correspondence=corr)
                rows.append({"series": series, "dataset": label, "vintage": vintage,
                             "country": country, "years": _year_text(years),
                             "n_codes": len(codes), **m})
    return pd.DataFrame(rows, columns=list(nuts.SERIES_COLUMNS))


def _runs(codes_by_year: pd.Series):
    """Consecutive years with identical code sets, as (years, codes)."""
    out: list[tuple[list[int], frozenset]] = []
    for year, codes in codes_by_year.items():
        if out and out[-1][1] == codes:
            out[-1][0].append(year)
        else:
            out.append(([year], codes))
    return out


def _year_text(years: list[int]) -> str:
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"


# ------------------------------------------------------------------------------------------------
def to_csv_text(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", float_format="%.3f")
    return buf.getvalue()


def build(mirror: Path | None = None) -> dict[str, str]:
    """File name -> CSV text of both tables."""
    mirror = mirror or mirror_dir()
    if not (mirror / "gisco" / "nuts2json").is_dir():
        raise SystemExit(f"{mirror}: no gisco/nuts2json here; the build needs the shared mirror")
    corr = build_correspondence(mirror)
    series = build_series_versions(corr)
    return {nuts.CORRESPONDENCE_FILE: to_csv_text(corr), nuts.SERIES_FILE: to_csv_text(series)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed tables differ from a fresh build")
    parser.add_argument("--out", type=Path, default=OUT, help="folder to write (default data/nuts)")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [n for n, text in files.items()
                 if not (args.out / n).is_file() or (args.out / n).read_text(encoding="utf-8") != text]
        for n in stale:
            print(f"{args.out / n}: differs from a fresh build", file=sys.stderr)
        return 1 if stale else 0
    for name, text in files.items():
        atomic_write_text(args.out / name, text)
        print(f"wrote {args.out / name} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
