"""Bulgarian places -> municipality, district (NUTS 3) and planning region (NUTS 2).

The small tables in ``data/geography/`` are built from NSI's EKATTE classifier (the JSON files NSI
publishes, recorded in ``<shared>/mirror/nsi/ekatte/``) by :func:`rebuild`; ``data/geography/
README.md`` gives the source files, their sha256 and vintages. Rebuild with::

    .venv/bin/python -m clusterstats.geography --rebuild

Resolving a place name (:func:`resolve_place`)
----------------------------------------------
A name is matched, case-insensitively, against the Bulgarian and the official Latin names of the
5,256 EKATTE settlements. An optional type prefix ("гр."/"град" = town, "с."/"село" = village)
and an optional qualifier after a comma ("с. Резбарци, Кърджали": a district or municipality
name) narrow the candidates. If several remain, the rule is, in order:

1. prefer towns (гр.) over villages (с.) and monasteries (ман.);
2. prefer district centres, then municipality centres.

If more than one candidate is still left the place is reported ``ambiguous`` and not resolved.
``n_candidates`` always says how many settlements carried the name before the rule.
"Sofia" resolves to the town of Sofia, municipality Stolichna, district Sofia (stolitsa) (SOF,
NUTS 3 BG411, NUTS 2 BG41) - not Sofia district (SFO, BG412), which is a different NUTS 3 region.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import pandas as pd

from ._paths import data_dir, mirror_dir
from .provenance import atomic_write_text, sha256_file

EKATTE_FILES = ("ek_atte.json", "ek_obst.json", "ek_obl.json", "ek_reg2.json")

#: English names of the six planning regions (translations of the Bulgarian names; the
#: official Latin names come from EKATTE ek_reg2.json).
NUTS2_ENGLISH = {"BG31": "North-West", "BG32": "North-Central", "BG33": "North-East",
                 "BG34": "South-East", "BG41": "South-West", "BG42": "South-Central"}

_TYPE_PREFIX = re.compile(r"^(?P<t>гр\.|град|с\.|село)\s*", re.I)
_TYPES = {"гр.": "гр.", "град": "гр.", "с.": "с.", "село": "с."}


def geography_dir() -> Path:
    return data_dir() / "geography"


# ------------------------------------------------------------------------------------------------
# Building the tables from EKATTE
# ------------------------------------------------------------------------------------------------
def read_ekatte(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """An NSI EKATTE JSON file as (records, metadata).

    NSI appends a metadata object (report time, "data as of") as the *last* array element; it is
    not a record and is returned separately.
    """
    path = Path(path)
    items = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a JSON array of records")
    meta = items[-1]
    if "Данните са актуални към" not in meta:
        raise ValueError(f"{path}: last element is not NSI's metadata object: {meta!r}")
    return pd.DataFrame(items[:-1], dtype=str), meta


def build_tables(source_dir: str | Path | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
    """The four geography tables and their provenance, from the EKATTE JSON files."""
    src = Path(source_dir) if source_dir else mirror_dir() / "nsi" / "ekatte"
    frames, prov = {}, {}
    for name in EKATTE_FILES:
        frames[name], meta = read_ekatte(src / name)
        prov[name] = {"sha256": sha256_file(src / name), "rows": len(frames[name]),
                      "prepared": meta.get("Дата и час на изготвяне на справката"),
                      "data_as_of": meta.get("Данните са актуални към")}
    obl = frames["ek_obl.json"].rename(columns={"oblast": "district", "ekatte": "centre_ekatte",
                                                "name": "name", "name_en": "name_latin"})
    districts = obl[["district", "centre_ekatte", "name", "name_latin", "nuts3", "nuts2",
                     "nuts1"]].sort_values("nuts3").reset_index(drop=True)
    obst = frames["ek_obst.json"].rename(columns={"obshtina": "municipality",
                                                  "ekatte": "centre_ekatte",
                                                  "name_en": "name_latin"})
    obst["district"] = obst["municipality"].str[:3]
    municipalities = obst[["municipality", "centre_ekatte", "name", "name_latin", "district",
                           "nuts3", "nuts2", "nuts1"]].sort_values("municipality")
    atte = frames["ek_atte.json"].rename(columns={"t_v_m": "type", "name_en": "name_latin",
                                                  "obshtina": "municipality",
                                                  "obshtina_name": "municipality_name",
                                                  "oblast": "district"})
    settlements = atte[["ekatte", "type", "name", "name_latin", "municipality",
                        "municipality_name", "district", "nuts3", "nuts2", "nuts1"]]
    settlements = settlements.sort_values("ekatte")
    reg = frames["ek_reg2.json"].drop(columns="region").rename(columns={"name_en": "name_latin"})
    reg["name_en"] = reg["nuts2"].map(NUTS2_ENGLISH)
    nuts2 = reg[["nuts2", "nuts1", "name", "name_latin", "name_en"]].sort_values("nuts2")
    tables = {"settlements": settlements, "municipalities": municipalities,
              "districts": districts, "nuts2": nuts2}
    return {k: v.reset_index(drop=True) for k, v in tables.items()}, prov


def rebuild(out_dir: str | Path | None = None, source_dir: str | Path | None = None) -> dict:
    """Write ``settlements.csv``, ``municipalities.csv``, ``districts.csv``, ``nuts2.csv`` and
    ``provenance.json`` (atomically) and return the provenance."""
    out = Path(out_dir) if out_dir else geography_dir()
    tables, prov = build_tables(source_dir)
    for name, df in tables.items():
        buf = io.StringIO()
        df.to_csv(buf, index=False, lineterminator="\n")
        atomic_write_text(out / f"{name}.csv", buf.getvalue())
    atomic_write_text(out / "provenance.json",
                      json.dumps({"source": "NSI EKATTE JSON (mirror/nsi/ekatte)", "files": prov},
                                 indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    return prov


# ------------------------------------------------------------------------------------------------
# Loaders
# ------------------------------------------------------------------------------------------------
def _read(name: str) -> pd.DataFrame:
    path = geography_dir() / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m clusterstats.geography "
                                f"--rebuild`")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@lru_cache(maxsize=None)
def _cached(name: str) -> pd.DataFrame:
    return _read(name)


def settlements() -> pd.DataFrame:
    """EKATTE settlements (5,256): ekatte, type (гр./с./ман.), names, municipality, district, NUTS."""
    return _cached("settlements").copy()


def municipalities() -> pd.DataFrame:
    return _cached("municipalities").copy()


def districts() -> pd.DataFrame:
    """The 28 districts (oblasti): NSI code (e.g. VRC), centre EKATTE, names, NUTS 3/2/1."""
    return _cached("districts").copy()


def nuts2_regions() -> pd.DataFrame:
    """The six planning regions BG31..BG42: Bulgarian, official Latin and English names."""
    return _cached("nuts2").copy()


# ------------------------------------------------------------------------------------------------
# Resolving names
# ------------------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


@lru_cache(maxsize=1)
def _index() -> tuple[pd.DataFrame, dict[str, list[int]], set[str]]:
    st = settlements()
    d = districts()
    m = municipalities()
    st["is_district_centre"] = st["ekatte"].isin(set(d["centre_ekatte"]))
    st["is_municipality_centre"] = st["ekatte"].isin(set(m["centre_ekatte"]))
    st = st.merge(d[["district", "name", "name_latin"]].rename(
        columns={"name": "district_name", "name_latin": "district_name_latin"}), on="district")
    st = st.merge(nuts2_regions()[["nuts2", "name_latin", "name_en"]].rename(
        columns={"name_latin": "nuts2_name_latin", "name_en": "nuts2_name_en"}), on="nuts2")
    by_name: dict[str, list[int]] = {}
    for i, (bg, lat) in enumerate(zip(st["name"], st["name_latin"])):
        for key in {_norm(bg), _norm(lat)}:
            by_name.setdefault(key, []).append(i)
    towns = {_norm(n) for n in st.loc[st["type"] == "гр.", "name"]}
    return st, by_name, towns


RESOLVE_COLUMNS = ["query", "ekatte", "type", "name", "name_latin", "municipality",
                   "municipality_name", "district", "district_name", "district_name_latin",
                   "nuts3", "nuts2", "nuts2_name_latin", "nuts2_name_en", "n_candidates",
                   "ambiguous", "rule"]


def _resolve_one(text: str) -> dict:
    st, by_name, _ = _index()
    out = {c: pd.NA for c in RESOLVE_COLUMNS}
    out["query"] = text
    query = str(text).strip()
    qualifier = None
    if "," in query:
        query, qualifier = (p.strip() for p in query.split(",", 1))
    kind = None
    m = _TYPE_PREFIX.match(query)
    if m:
        kind = _TYPES[m["t"].lower()]
        query = query[m.end():]
    idx = by_name.get(_norm(query), [])
    out["n_candidates"] = len(idx)
    cand = st.iloc[idx]
    steps = []
    if kind is not None:
        cand = cand[cand["type"] == kind]
        steps.append(f"type {kind}")
    if qualifier:
        q = _norm(qualifier)
        keep = cand.apply(lambda r: q in {_norm(r["district_name"]), _norm(r["district_name_latin"]),
                                          _norm(r["municipality_name"])}, axis=1)
        cand = cand[keep] if len(cand) else cand
        steps.append(f"qualifier '{qualifier}'")
    if len(cand) > 1 and (cand["type"] == "гр.").any():
        cand = cand[cand["type"] == "гр."]
        steps.append("prefer towns")
    if len(cand) > 1 and cand["is_district_centre"].any():
        cand = cand[cand["is_district_centre"]]
        steps.append("prefer district centres")
    if len(cand) > 1 and cand["is_municipality_centre"].any():
        cand = cand[cand["is_municipality_centre"]]
        steps.append("prefer municipality centres")
    out["ambiguous"] = len(cand) > 1
    if len(cand) == 1:
        row = cand.iloc[0]
        for c in RESOLVE_COLUMNS:
            if c in row.index:
                out[c] = row[c]
        out["rule"] = "unique name" if not steps or out["n_candidates"] == 1 else "; ".join(steps)
    elif len(cand) == 0:
        out["rule"] = "no settlement of that name" if not idx else "no candidate left after " + \
            "; ".join(steps)
    else:
        out["rule"] = f"{len(cand)} candidates left after " + ("; ".join(steps) or "no rule")
    return out


def resolve_place(text: str | Iterable[str]) -> pd.DataFrame:
    """Resolve place name(s) to settlement, municipality, district (NUTS 3) and NUTS 2.

    One row per input text, columns :data:`RESOLVE_COLUMNS`; unresolved names give NA with the
    reason in ``rule`` (see the module docstring for the disambiguation rule).
    """
    texts = [text] if isinstance(text, str) else list(text)
    frame = pd.DataFrame([_resolve_one(t) for t in texts], columns=RESOLVE_COLUMNS)
    frame["n_candidates"] = frame["n_candidates"].astype("Int64")
    frame["ambiguous"] = frame["ambiguous"].astype("boolean")
    return frame


def split_seat(seat: str | None) -> list[str]:
    """The towns of a seat as printed in the BSMEPA table, in order.

    "София + Габрово", "София и Плевен", "Бургас, Габрово" and "Велико Търново София" (no
    separator: split where a known town name ends) each give two towns; parts that are not
    place names ("регионални структури") are dropped; "с. Резбарци, Кърджали" stays one place
    (a village with its district).
    """
    if seat is None or (not isinstance(seat, str)) or not seat.strip():
        return []
    st, by_name, towns = _index()
    text = seat.strip()
    if _TYPE_PREFIX.match(text) and "," in text:  # "с. X, District": one place with qualifier
        return [text]
    parts = [p.strip() for p in re.split(r"\s*\+\s*|\s*,\s*|\s+и\s+", text) if p.strip()]
    places: list[str] = []
    for part in parts:
        if _norm(part) in by_name or _TYPE_PREFIX.match(part):
            places.append(part)
            continue
        # No separator: take the longest run of words that is a town name, then continue.
        words, i, found = part.split(), 0, []
        while i < len(words):
            for j in range(len(words), i, -1):
                if _norm(" ".join(words[i:j])) in towns:
                    found.append(" ".join(words[i:j]))
                    i = j
                    break
            else:
                i += 1
        places.extend(found)
    return places


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterstats.geography")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild data/geography/*.csv from the EKATTE JSON in the mirror")
    parser.add_argument("place", nargs="*", help="place names to resolve")
    args = parser.parse_args(argv)
    if args.rebuild:
        for name, p in rebuild().items():
            print(f"{name}: {p['rows']} records, data as of {p['data_as_of']}, sha256 {p['sha256']}")
    if args.place:
        print(resolve_place(args.place).to_string())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
