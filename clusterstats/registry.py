"""The guide's cluster registers as validated, linked data.

Source: *Good Practices Guide on Clusters and Technology Transfers - Bulgaria* (2018), annexes
(p. 54; data obtained 22 April 2018), Table 1 and Table 2, transcribed into ``data/registry/`` by
``tools/transcribe_guide.py`` (see ``data/registry/README.md`` for every repair).

Loaders return typed tidy frames and refuse bad files with a :class:`RegistryError` naming the
file, row and reason (bad check digit, duplicate row number, unknown stage ...):

* :func:`load_bulstat`, :func:`load_trade_register`, :func:`load_bsmepa` - the three annexes;
* :func:`load_bronze_label` (Table 1), :func:`load_abc_members`, :func:`load_gbard_table2`;
* :func:`clusters` - one row per cluster entity, linking the registers; :func:`cluster_seats`
  - one row per (cluster, seat town); :func:`register_links` - every link decision.

Linking: BULSTAT and Trade Register rows are joined by code (an association's BULSTAT code is its
EIK). BSMEPA rows, which carry no code, are linked by name: exact match of normalised names
(:func:`normalise_name`), else a fuzzy match (difflib ratio >= 0.85 and 0.05 ahead of the
runner-up); ambiguous cases are decided in the reviewed ``data/registry/link_overrides.csv``.
"""
from __future__ import annotations

import re
from difflib import SequenceMatcher
from pathlib import Path

import pandas as pd

from ._paths import data_dir
from .geography import nuts2_regions, resolve_place, split_seat
from .transliteration import to_latin

# ------------------------------------------------------------------------------------------------
# BULSTAT / EIK check digits
# ------------------------------------------------------------------------------------------------
_W9, _W9_RETRY = (1, 2, 3, 4, 5, 6, 7, 8), (3, 4, 5, 6, 7, 8, 9, 10)
_W13, _W13_RETRY = (2, 7, 3, 5), (4, 9, 5, 7)


def _weighted_mod11(digits: str, weights: tuple[int, ...], retry: tuple[int, ...]) -> int:
    s = sum(int(d) * w for d, w in zip(digits, weights)) % 11
    if s == 10:
        s = sum(int(d) * w for d, w in zip(digits, retry)) % 11
    return 0 if s == 10 else s


def eik_check_digit(first8: str) -> int:
    """The 9th digit of a BULSTAT/EIK code from its first 8 digits."""
    if not re.fullmatch(r"\d{8}", first8):
        raise ValueError(f"need 8 digits, got {first8!r}")
    return _weighted_mod11(first8, _W9, _W9_RETRY)


def branch_check_digit(digits_9_to_12: str) -> int:
    """The 13th digit of a branch code from its digits 9..12."""
    if not re.fullmatch(r"\d{4}", digits_9_to_12):
        raise ValueError(f"need 4 digits, got {digits_9_to_12!r}")
    return _weighted_mod11(digits_9_to_12, _W13, _W13_RETRY)


def eik_problem(code: str) -> str | None:
    """None if ``code`` is a valid 9- or 13-digit BULSTAT/EIK code, else the reason it is not."""
    code = str(code)
    if not re.fullmatch(r"\d{9}|\d{13}", code):
        return f"code {code!r} is not 9 or 13 digits"
    expected = eik_check_digit(code[:8])
    if int(code[8]) != expected:
        return f"bad check digit: {code[:9]} ends in {code[8]}, expected {expected}"
    if len(code) == 13:
        expected = branch_check_digit(code[8:12])
        if int(code[12]) != expected:
            return f"bad branch check digit: {code} ends in {code[12]}, expected {expected}"
    return None


def is_valid_eik(code: str) -> bool:
    return eik_problem(code) is None


# ------------------------------------------------------------------------------------------------
# Loaders
# ------------------------------------------------------------------------------------------------
class RegistryError(ValueError):
    """A register CSV that fails validation; the message names the file, row and reason."""


#: Stage categories of the BSMEPA table, in the order of development.
STAGE_CATEGORIES = ["start-up", "developing", "developed", "uncategorised"]
ROW_STATUSES = ["ok", "partial", "missing_from_source"]
#: Trade Register status as printed -> short English label.
TR_STATUS_EN = {"": "", "в ликвидация": "liquidation", "в несъстоятелност": "insolvency"}


def registry_dir() -> Path:
    return data_dir() / "registry"


def _read(name: str, path: str | Path | None) -> tuple[pd.DataFrame, Path]:
    path = Path(path) if path is not None else registry_dir() / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing (run tools/transcribe_guide.py)")
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8"), path


def _fail(path: Path, df: pd.DataFrame, i: int, reason: str) -> RegistryError:
    row = df["row"].iloc[i] if "row" in df.columns else "?"
    return RegistryError(f"{path.name}: row {row} (line {i + 2}): {reason} [{path}]")


def _require(df: pd.DataFrame, path: Path, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RegistryError(f"{path.name}: missing column(s) {missing} [{path}]")


def _check_rows(df: pd.DataFrame, path: Path) -> None:
    for i, value in enumerate(df["row"]):
        if not re.fullmatch(r"\d+", value):
            raise _fail(path, df, i, f"row number {value!r} is not a positive integer")
    dup = df["row"].duplicated(keep="first")
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise _fail(path, df, i, f"duplicate row number {df['row'].iloc[i]}")
    df["row"] = df["row"].astype(int).astype("Int64")


def _check_codes(df: pd.DataFrame, path: Path, column: str) -> None:
    for i, code in enumerate(df[column]):
        problem = eik_problem(code)
        if problem:
            raise _fail(path, df, i, f"{column}: {problem}")


def _int64(series: pd.Series, df: pd.DataFrame, path: Path, column: str) -> pd.Series:
    bad = series.ne("") & ~series.str.fullmatch(r"\d+")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise _fail(path, df, i, f"{column} {series.iloc[i]!r} is not a whole number")
    return pd.to_numeric(series.replace("", None)).astype("Int64")


def load_bulstat(path: str | Path | None = None) -> pd.DataFrame:
    """Annex "List of clusters, registered with BULSTAT": 243 rows, codes validated.

    Columns: row, code_raw (as printed), code (9 or 13 digits), bulstat9, branch (4 digits for a
    branch, else empty), is_branch, name (as printed), name_clean, name_latin, note, repairs.
    """
    df, path = _read("bulstat", path)
    _require(df, path, ["row", "code_raw", "code", "name", "name_clean"])
    _check_rows(df, path)
    _check_codes(df, path, "code")
    df["bulstat9"] = df["code"].str[:9]
    df["branch"] = df["code"].str[9:]
    df["is_branch"] = df["branch"].ne("")
    df["name_latin"] = df["name_clean"].map(to_latin)
    return df


def load_trade_register(path: str | Path | None = None) -> pd.DataFrame:
    """Annex "List of clusters, registered in the Trade Register": 74 rows (the guide's prose
    says 82), EIK validated; ``status_en`` is liquidation / insolvency / empty."""
    df, path = _read("trade_register", path)
    _require(df, path, ["row", "eik", "name", "legal_form", "status"])
    _check_rows(df, path)
    _check_codes(df, path, "eik")
    for i, status in enumerate(df["status"]):
        if status not in TR_STATUS_EN:
            raise _fail(path, df, i, f"unknown status {status!r}")
    df["status_en"] = df["status"].map(TR_STATUS_EN)
    df["legal_form"] = df["legal_form"].astype("category")
    df["name_latin"] = df["name"].map(to_latin)
    return df


def load_bsmepa(path: str | Path | None = None) -> pd.DataFrame:
    """Annex "List of studied clusters, categorized by BSMEPA": all 72 row numbers.

    Rows 12-18, 31-36 and 59-64 are not in the text (``row_status = missing_from_source``, all
    values NA); row 11 is ``partial``. ``stage`` and ``stage_2`` are categoricals (row 26 has
    two stages; ``stages`` lists both); years and counts are nullable Int64.
    """
    df, path = _read("bsmepa", path)
    _require(df, path, ["row", "row_status", "name", "founding_year", "seat", "members", "stage",
                        "stage_2"])
    _check_rows(df, path)
    for i, (status, stage, stage2) in enumerate(zip(df["row_status"], df["stage"],
                                                    df["stage_2"])):
        if status not in ROW_STATUSES:
            raise _fail(path, df, i, f"unknown row_status {status!r}")
        if status == "missing_from_source":
            continue
        for col, value in (("stage", stage), ("stage_2", stage2)):
            if value not in STAGE_CATEGORIES and not (col == "stage_2" and value == ""):
                raise _fail(path, df, i, f"unknown {col} {value!r} (valid: {STAGE_CATEGORIES})")
    for col in ("founding_year", "members", "foreign_members"):
        df[col] = _int64(df[col], df, path, col)
    df["members_at_least"] = df["members_at_least"].map(
        {"True": True, "False": False, "": pd.NA}).astype("boolean")
    cat = pd.CategoricalDtype(STAGE_CATEGORIES, ordered=False)
    df["stages"] = [[s for s in (a, b) if s] for a, b in zip(df["stage"], df["stage_2"])]
    df["stage"] = df["stage"].replace("", None).astype(cat)
    df["stage_2"] = df["stage_2"].replace("", None).astype(cat)
    df["row_status"] = df["row_status"].astype(pd.CategoricalDtype(ROW_STATUSES))
    df["name_latin"] = df["name"].replace("", None).map(to_latin, na_action="ignore")
    df["seat_towns"] = df["seat"].map(split_seat)
    return df


#: The annexes' data date: footnotes 9-10 of the guide ("The data is obtained on 22 April 2018").
GUIDE_DATA_DATE = "2018-04-22"


def _ranges(numbers: list[int]) -> str:
    """[12, 13, 14, 31] -> "12-14, 31"."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)


def bsmepa_coverage(table: pd.DataFrame | None = None) -> dict:
    """How much of the BSMEPA table the guide's text holds, counted from the table itself.

    Returns ``total`` and ``printed`` row counts, the ``missing`` row numbers, and ``text``, the
    caveat every analysis of this table states (e.g. "53 of 72 rows printed; rows 12-18, 31-36,
    59-64 are missing from the guide's text").
    """
    table = load_bsmepa() if table is None else table
    missing = [int(r) for r in table.loc[table["row_status"] == "missing_from_source", "row"]]
    total = len(table)
    text = (f"BSMEPA table: {total - len(missing)} of {total} rows printed; rows {_ranges(missing)} "
            "are missing from the guide's text")
    return {"total": total, "printed": total - len(missing), "missing": missing, "text": text}


def load_bronze_label(path: str | Path | None = None) -> pd.DataFrame:
    """Table 1: Bulgarian clusters with the ECEI Bronze label (10 rows), ``valid_until`` a date."""
    df, path = _read("bronze_label", path)
    _require(df, path, ["row", "name", "field", "www", "valid_until"])
    _check_rows(df, path)
    try:
        df["valid_until"] = pd.to_datetime(df["valid_until"], format="%Y-%m-%d")
    except ValueError as exc:
        raise RegistryError(f"{path.name}: valid_until: {exc} [{path}]") from None
    return df


def load_abc_members(path: str | Path | None = None) -> pd.DataFrame:
    """The Association of Business Clusters' 12 "most active members", with the planning region
    and city the guide states, the region's NUTS 2 code and the city's district and NUTS 2 as
    resolved through EKATTE (``city_nuts2``; compare with ``nuts2``)."""
    df, path = _read("abc_active_members", path)
    _require(df, path, ["row", "name", "planning_region", "city"])
    _check_rows(df, path)
    regions = nuts2_regions().set_index("name_latin")["nuts2"]
    for i, region in enumerate(df["planning_region"]):
        if region not in regions.index:
            raise _fail(path, df, i, f"unknown planning region {region!r}")
    df["nuts2"] = df["planning_region"].map(regions)
    # The city resolved independently: it should lie in the stated region ("Srednogorie" is a
    # region, not a settlement, and stays unresolved).
    res = resolve_place(df["city"].tolist())
    df["city_district"] = res["district"].to_numpy()
    df["city_nuts2"] = res["nuts2"].to_numpy()
    df["bronze_label_noted"] = df["bronze_label_noted"].map({"True": True, "False": False})
    return df


def load_gbard_table2(path: str | Path | None = None) -> pd.DataFrame:
    """Table 2: GBARD 2016 by socio-economic objective (NSI via the guide), thousand BGN and
    per cent as printed (``percent`` keeps the guide's rounding)."""
    df, path = _read("gbard_2016_table2", path)
    _require(df, path, ["row", "objective", "thousand_bgn", "percent"])
    _check_rows(df, path)
    df["year"] = df["year"].astype(int)
    df["thousand_bgn"] = _int64(df["thousand_bgn"], df, path, "thousand_bgn")
    df["percent"] = df["percent"].astype(float)
    return df


# ------------------------------------------------------------------------------------------------
# Linking the registers
# ------------------------------------------------------------------------------------------------
_LEGAL_WORDS = re.compile(r"\b(СДРУЖЕНИЕ С НЕСТОПАНСКА ЦЕЛ|СДРУЖЕНИЕ|ДЗЗД|ЕООД|ООД|АД|ФОНДАЦИЯ)\b")
#: Minimum difflib ratio for a fuzzy name link, and its required lead over the runner-up.
FUZZY_MIN, FUZZY_MARGIN = 0.85, 0.05


def normalise_name(name: str, drop_cluster_word: bool = True) -> str:
    """A cluster name reduced for matching: upper case; КЛЪСТЕР/КЛЪСТЪР/КЪЛЪСТЕР/КЛЬСТЕР/КЪЛСТЕР
    spelled one way; quotes, acronyms in slashes, a trailing "- гр. <town>", legal-form words
    (СДРУЖЕНИЕ [С НЕСТОПАНСКА ЦЕЛ], ДЗЗД, ООД, ЕООД, АД, ФОНДАЦИЯ) and punctuation removed; and,
    by default, the word КЛЪСТЕР itself (registers differ in where they put it)."""
    s = str(name).upper()
    s = re.sub(r"К[ЪЬ]?Л[ЪЬ]?СТ[ЕЪ]Р", "КЛЪСТЕР", s)
    s = re.sub(r"К[ЪЬ]?Л[ЪЬ]?СТ\b", "КЛЪСТ", s)
    s = re.sub(r"/[^/]*/", " ", s)
    s = re.sub(r"-\s*ГР\.\s*\w+\s*$", " ", s)
    s = re.sub(r"[\"'„“”«»]", " ", s)
    s = _LEGAL_WORDS.sub(" ", s)
    s = re.sub(r"[^\w]+", " ", s)
    if drop_cluster_word:
        s = re.sub(r"\bКЛЪСТЕР\b", " ", s)
    return " ".join(s.split())


def load_link_overrides(path: str | Path | None = None) -> pd.DataFrame:
    """The reviewed link decisions (``data/registry/link_overrides.csv``): one per line with
    source (bsmepa / bronze_label / abc_active_members), source_row, action (link / no_link),
    eik and reason."""
    path = Path(path) if path is not None else registry_dir() / "link_overrides.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for i, r in df.iterrows():
        where = f"{path.name}: line {i + 2}"
        if r["action"] not in ("link", "no_link"):
            raise RegistryError(f"{where}: action must be link or no_link, got {r['action']!r}")
        if r["action"] == "link" and eik_problem(r["eik"]):
            raise RegistryError(f"{where}: {eik_problem(r['eik'])}")
        if not r["reason"].strip():
            raise RegistryError(f"{where}: a reason is required")
    if df.duplicated(["source", "source_row"]).any():
        raise RegistryError(f"{path.name}: duplicate (source, source_row) in overrides")
    return df


def _entities(bulstat: pd.DataFrame, tr: pd.DataFrame) -> pd.DataFrame:
    """One row per registered legal entity (by EIK), from BULSTAT (branches folded into their
    entity) and the Trade Register. A BULSTAT code of an association equals its EIK."""
    heads = bulstat[~bulstat["is_branch"]]
    b = pd.DataFrame({"eik": heads["bulstat9"], "bulstat_row": heads["row"],
                      "bulstat_name": heads["name_clean"]})
    branches = (bulstat[bulstat["is_branch"]].groupby("bulstat9")["row"]
                .agg(lambda s: [int(x) for x in s]).rename("bulstat_branch_rows"))
    b = b.merge(branches, left_on="eik", right_index=True, how="left")
    t = pd.DataFrame({"eik": tr["eik"], "trade_register_row": tr["row"], "tr_name": tr["name"],
                      "legal_form": tr["legal_form"].astype(str), "tr_status": tr["status"],
                      "tr_status_en": tr["status_en"]})
    dup_b = b["eik"].duplicated()
    if dup_b.any():
        raise RegistryError(f"bulstat.csv: code {b['eik'][dup_b].iloc[0]} listed twice")
    ent = b.merge(t, on="eik", how="outer")
    ent["in_bulstat"] = ent["bulstat_row"].notna()
    ent["in_trade_register"] = ent["trade_register_row"].notna()
    ent["link_bulstat_tr"] = ent["in_bulstat"] & ent["in_trade_register"]
    ent["name_bg"] = ent["bulstat_name"].fillna(ent["tr_name"])
    return ent


def _similarity(query: str, keys: list[str]) -> list[float]:
    """difflib ratio of ``query`` with each key; pairs whose cheap upper bound (quick_ratio) is
    below 0.6 get 0.0, as they can neither link nor be a close runner-up."""
    sm = SequenceMatcher(None, b=query, autojunk=False)  # seq2 fixed: its index is built once
    out = []
    for key in keys:
        sm.set_seq1(key)
        out.append(sm.ratio() if sm.real_quick_ratio() >= 0.6 and sm.quick_ratio() >= 0.6
                   else 0.0)
    return out


def _match_names(queries: pd.Series, entities: pd.DataFrame) -> pd.DataFrame:
    """Best entity for each query name: exact normalised name (unique), else difflib ratio at
    least FUZZY_MIN with a lead of FUZZY_MARGIN over the next entity; else unmatched."""
    keys = entities["name_bg"].map(normalise_name).tolist()
    # A Trade Register name may differ from the BULSTAT one of the same EIK: score both.
    alt = [normalise_name(t) if isinstance(t, str) else "" for t in entities["tr_name"]]
    alt = [a if a != k else "" for a, k in zip(alt, keys)]
    eiks = entities["eik"].tolist()
    out = []
    for q in queries:
        qn = normalise_name(q)
        scores = [max(s1, s2) for s1, s2 in zip(_similarity(qn, keys), _similarity(qn, alt))]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        best, second = order[0], order[1]
        exact = [i for i in order if scores[i] == 1.0]
        rec = {"eik": pd.NA, "method": "unmatched", "score": round(scores[best], 3),
               "candidates": [eiks[i] for i in exact] or [eiks[i] for i in order[:2]]}
        if len(exact) == 1:
            rec.update(eik=eiks[best], method="name_exact", score=1.0)
        elif len(exact) > 1:
            rec["method"] = "ambiguous"
        elif scores[best] >= FUZZY_MIN and scores[best] - scores[second] >= FUZZY_MARGIN:
            rec.update(eik=eiks[best], method="name_fuzzy")
        out.append(rec)
    return pd.DataFrame(out, index=queries.index)


def link_table(source: str, names: pd.Series, rows: pd.Series, entities: pd.DataFrame,
               overrides: pd.DataFrame, match_names: bool = True) -> pd.DataFrame:
    """Link rows of one source table to entities: reviewed overrides win over name matching."""
    if match_names:
        links = _match_names(names, entities)
    else:
        links = pd.DataFrame({"eik": pd.NA, "method": "unmatched", "score": float("nan"),
                              "candidates": [[] for _ in range(len(names))]}, index=names.index)
    links.insert(0, "source_row", rows.astype(int).to_numpy())
    links.insert(0, "source", source)
    links["reason"] = ""
    ov = overrides[overrides["source"] == source]
    ov = ov.set_index(ov["source_row"].astype(int))
    for i, r in links.iterrows():
        if r["source_row"] in ov.index:
            o = ov.loc[r["source_row"]]
            links.at[i, "eik"] = o["eik"] if o["action"] == "link" else pd.NA
            links.at[i, "method"] = "override" if o["action"] == "link" else "override_no_link"
            links.at[i, "reason"] = o["reason"]
    unknown = set(links["eik"].dropna()) - set(entities["eik"])
    if unknown:
        raise RegistryError(f"link_overrides.csv: EIK {sorted(unknown)} is in no register")
    return links


def register_links() -> pd.DataFrame:
    """Every link decision for the BSMEPA rows, Table 1 and the ABC list: source, source_row,
    eik, method (name_exact / name_fuzzy / override / override_no_link / ambiguous /
    unmatched), score (difflib ratio of the normalised names), candidates and reason."""
    bulstat, tr = load_bulstat(), load_trade_register()
    ent = _entities(bulstat, tr)
    ov = load_link_overrides()
    bs = load_bsmepa()
    bs = bs[bs["row_status"] != "missing_from_source"]
    parts = [link_table("bsmepa", bs["name"], bs["row"], ent, ov)]
    for source, df in (("bronze_label", load_bronze_label()),
                       ("abc_active_members", load_abc_members())):
        # English names: only reviewed overrides link them (no name matching across languages).
        parts.append(link_table(source, df["name"], df["row"], ent, ov, match_names=False))
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------------------------------
# The linked cluster table
# ------------------------------------------------------------------------------------------------
def _seat_rows(seats: pd.Series) -> pd.DataFrame:
    """Long table (index of ``seats``, seat_order, town) resolved through geography."""
    long = [(i, k + 1, town) for i, seat in seats.items() for k, town in enumerate(split_seat(seat))]
    frame = pd.DataFrame(long, columns=["key", "seat_order", "town"])
    if frame.empty:
        return frame
    res = resolve_place(frame["town"].tolist())
    res.index = frame.index
    return pd.concat([frame, res.drop(columns="query")], axis=1)


def clusters() -> pd.DataFrame:
    """One row per cluster entity, linking BULSTAT, the Trade Register and the BSMEPA table.

    An entity is a registered legal entity (EIK; BULSTAT branches folded in), or a BSMEPA row
    that could not be linked to one. Columns: cluster_id (``EIK<code>`` or ``BSMEPA<row>``),
    name_bg, name_latin, eik, in_bulstat, in_trade_register, in_bsmepa, bulstat_row,
    bulstat_branch_rows, trade_register_row, legal_form, tr_status, tr_status_en, bsmepa_row,
    bsmepa_name, sector, founding_year, stage, stage_2, stages, members, members_at_least,
    foreign_members, functioning_status, seat, seat_towns, seat_ekatte, seat_municipality,
    seat_district, seat_nuts3, seat_nuts2, seat_nuts2_name (first town of the seat; all towns
    in :func:`cluster_seats`),
    bronze_label, abc_active, link_method, link_score.

    Returns
    -------
    pandas.DataFrame
        One row per cluster entity, read from the registers in ``data/registry/``.

    Examples
    --------
    >>> from clusterstats import registry
    >>> c = registry.clusters()
    >>> int(c["in_bulstat"].sum()), int(c["in_trade_register"].sum()), int(c["in_bsmepa"].sum())
    (239, 74, 53)
    >>> c.loc[c["members"].idxmax(), "name_latin"], int(c["members"].max())
    ('SDRUZHENIE "INDUSTRIALEN KLASTER ELEKTROMOBILI"', 63)
    """
    bulstat, tr = load_bulstat(), load_trade_register()
    ent = _entities(bulstat, tr)
    links = register_links()
    bs = load_bsmepa()
    bs = bs[bs["row_status"] != "missing_from_source"].set_index("row")
    bl = links[links["source"] == "bsmepa"]
    if bl["eik"].dropna().duplicated().any():
        dup = bl["eik"].dropna()[bl["eik"].dropna().duplicated()].iloc[0]
        raise RegistryError(f"two BSMEPA rows link to EIK {dup}: fix link_overrides.csv")
    linked = bl.dropna(subset=["eik"]).set_index("eik")
    ent["bsmepa_row"] = ent["eik"].map(linked["source_row"]).astype("Int64")
    ent["link_method"] = ent["eik"].map(linked["method"]).fillna("")
    ent["link_score"] = ent["eik"].map(linked["score"])
    ent["cluster_id"] = "EIK" + ent["eik"]
    unlinked = bl[bl["eik"].isna()]
    extra = pd.DataFrame({"cluster_id": [f"BSMEPA{r:02d}" for r in unlinked["source_row"]],
                          "bsmepa_row": unlinked["source_row"].astype("Int64").to_numpy(),
                          "link_method": unlinked["method"].to_numpy(),
                          "link_score": unlinked["score"].to_numpy()})
    extra["in_bulstat"] = False
    extra["in_trade_register"] = False
    out = pd.concat([ent, extra], ignore_index=True)
    out["in_bsmepa"] = out["bsmepa_row"].notna()
    b = bs.reindex(out["bsmepa_row"].astype("float").fillna(-1).astype(int))
    b.index = out.index
    out["bsmepa_name"] = b["name"]
    out["name_bg"] = out["name_bg"].fillna(out["bsmepa_name"])
    out["name_latin"] = out["name_bg"].map(to_latin)
    for col in ("sector", "founding_year", "stage", "stage_2", "stages", "members",
                "members_at_least", "foreign_members", "functioning_status", "seat",
                "seat_towns", "row_status"):
        out[col] = b[col]
    out = out.rename(columns={"row_status": "bsmepa_row_status"})
    out["seat_towns"] = out["seat_towns"].map(lambda v: v if isinstance(v, list) else [])
    out["stages"] = out["stages"].map(lambda v: v if isinstance(v, list) else [])
    seats = _seat_rows(out["seat"].dropna())
    first = seats[seats["seat_order"] == 1].set_index("key") if len(seats) else seats
    for src, dst in (("ekatte", "seat_ekatte"), ("municipality", "seat_municipality"),
                     ("district", "seat_district"), ("nuts3", "seat_nuts3"),
                     ("nuts2", "seat_nuts2"), ("nuts2_name_latin", "seat_nuts2_name")):
        out[dst] = first[src].reindex(out.index) if len(first) else pd.NA
    for source, col in (("bronze_label", "bronze_label"), ("abc_active_members", "abc_active")):
        eiks = set(links.loc[links["source"] == source, "eik"].dropna())
        out[col] = out["eik"].isin(eiks)
    for col in ("bulstat_row", "trade_register_row"):
        out[col] = out[col].astype("Int64")
    cols = ["cluster_id", "name_bg", "name_latin", "eik", "in_bulstat", "in_trade_register",
            "in_bsmepa", "bulstat_row", "bulstat_branch_rows", "trade_register_row", "legal_form",
            "tr_status", "tr_status_en", "bsmepa_row", "bsmepa_row_status", "bsmepa_name",
            "sector", "founding_year", "stage", "stage_2", "stages", "members",
            "members_at_least", "foreign_members", "functioning_status", "seat", "seat_towns",
            "seat_ekatte", "seat_municipality", "seat_district", "seat_nuts3", "seat_nuts2",
            "seat_nuts2_name", "bronze_label",
            "abc_active", "link_method", "link_score"]
    out = out[cols].sort_values("cluster_id", kind="stable").reset_index(drop=True)
    out["bulstat_branch_rows"] = out["bulstat_branch_rows"].map(
        lambda v: v if isinstance(v, list) else [])
    for col in ("eik", "legal_form", "tr_status", "tr_status_en", "bsmepa_name"):
        out[col] = out[col].astype("string")
    return out


def cluster_seats(cluster_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (cluster, seat town) for the clusters with a printed seat: a two-town seat
    ("София + Габрово") gives two rows. Columns: cluster_id, seat (as printed), seat_order, town,
    and the geography columns of :func:`clusterstats.geography.resolve_place`. Pass the result
    of :func:`clusters` to avoid building it twice."""
    cl = clusters() if cluster_table is None else cluster_table
    with_seat = cl[cl["seat"].notna() & cl["seat"].ne("")]
    seats = _seat_rows(with_seat["seat"])
    seats.insert(0, "cluster_id", with_seat.loc[seats["key"], "cluster_id"].to_numpy())
    seats.insert(1, "seat", with_seat.loc[seats["key"], "seat"].to_numpy())
    return seats.drop(columns="key").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# The guide's statements beside the data
# ------------------------------------------------------------------------------------------------
def guide_comparison() -> pd.DataFrame:
    """The guide's statements about its own registers beside what the transcribed rows give.

    One row per statement: statement, guide_value (as the guide words it), guide_line (line of
    the seed text), data_value, data_n (rows the data value is computed over) and note. BSMEPA
    figures are over the 53 printed rows; 19 rows are missing from the text, so counts are lower
    bounds of what the full table would give.
    """
    b, t, m = load_bulstat(), load_trade_register(), load_bsmepa()
    printed = m[m["row_status"] != "missing_from_source"]
    categorised = printed[printed["stage"] != "uncategorised"]
    numbered_uncat = int((m["stage"] == "uncategorised").sum())
    stages = pd.Series([s for lst in printed["stages"] for s in lst]).value_counts()
    with_seat = printed[printed["seat_towns"].map(len) > 0]
    in_sofia = with_seat["seat_towns"].map(lambda towns: "София" in towns)
    top = printed.loc[printed["members"].idxmax()]
    rows = [
        ("clusters registered with BULSTAT", "243", 173, len(b), len(b),
         f"{b['bulstat9'].nunique()} distinct entities; {int(b['is_branch'].sum())} rows are branches"),
        ("clusters in the Commercial (Trade) Register", "82", 173, len(t), len(t),
         "the annex lists 74 entries"),
        ("unions categorised by BSMEPA", "78 divided into 4 categories", 179, len(m), len(m),
         f"the annex numbers 72 rows; {len(printed)} are printed, 19 are missing from the text"),
        ("categorised clusters (not 'uncategorised')", "66", 187, len(m) - numbered_uncat, len(m),
         f"72 numbered rows less the {numbered_uncat} printed uncategorised rows (67-72) = 66 if "
         f"no missing row is uncategorised; {len(categorised)} of them are printed"),
        ("founding year known", "42 of the 66 categorised", 187,
         int(categorised["founding_year"].notna().sum()), len(categorised),
         "over the printed categorised rows"),
        ("number of members known", "43", 203, int(printed["members"].notna().sum()),
         len(printed), "over the printed rows ('13+' counted as known)"),
        ("clusters with foreign members", "3", 203, int(printed["foreign_members"].notna().sum()),
         len(printed), "rows 20, 46, 52 state it in the count; rows 4 and 25 in the member types"),
        ("largest number of members", "63 (Electric Vehicles Industrial Cluster)", 203,
         int(top["members"]), len(printed), f"row {int(top['row'])}: {top['name']}"),
        ("smallest clusters", "6-7 participants", 203, int(printed["members"].min()),
         len(printed), "smallest printed member count"),
        ("start-up clusters per developing cluster", "twice as many", 183,
         round(stages.get("start-up", 0) / stages.get("developing", 1), 2), len(printed),
         f"{stages.get('start-up', 0)} start-up vs {stages.get('developing', 0)} developing "
         "(row 26 counted in both)"),
        ("developed clusters", "four", 197, int(stages.get("developed", 0)), len(printed),
         "rows 59-64, just before the printed developed rows 65-66, are missing"),
        ("share of clusters seated in Sofia", "more than half", 193,
         round(float(in_sofia.mean()), 3), len(with_seat),
         f"{int(in_sofia.sum())} of {len(with_seat)} printed rows with a seat list Sofia"),
    ]
    return pd.DataFrame(rows, columns=["statement", "guide_value", "guide_line", "data_value",
                                       "data_n", "note"])
