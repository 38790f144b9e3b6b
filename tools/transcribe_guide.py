"""Transcribe the cluster tables of the 2018 Good Practices Guide into ``data/registry/*.csv``.

Reads the guide as text (``<shared>/seeds/003_779ae59ebabdebad.txt``, the PDF converted to text),
finds each table by its heading, splits the rows and applies the explicit list of repairs below.
Every repair is written into the ``repairs`` column of the row it touches and, all together, into
``data/registry/repairs.csv``. The committed CSVs are the data of record; this script makes them
reproducible::

    .venv/bin/python tools/transcribe_guide.py          # rewrite data/registry/*.csv
    .venv/bin/python tools/transcribe_guide.py --check  # exit 1 if the committed CSVs differ

Rule followed throughout: keep what the guide prints (``*_raw`` columns), put each value in its
right column, never guess a value the text does not give.
"""
from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from clusterstats._paths import data_dir, shared_dir  # noqa: E402
from clusterstats.provenance import atomic_write_text, sha256_file  # noqa: E402
from clusterstats.registry import eik_problem  # noqa: E402

SEED = "003_779ae59ebabdebad.txt"
#: sha256 of the seed file the committed CSVs were made from.
SEED_SHA256 = "b8b33c78b448fec0ba35ba0df1fd6f6418e4bb42608b9e0be802a9509e3e7fce"

OUT = data_dir() / "registry"
PAGE_HEADER = re.compile(r"^\**\s*GOOD PRACTICES GUIDE ON CLUSTERS|^\s*AND TECHNOLOGY TRANSFERS\**$")

# ------------------------------------------------------------------------------------------------
# Repairs, table by table. Each is (row, what was done and why). The code below does exactly these.
# ------------------------------------------------------------------------------------------------

#: BULSTAT codes whose check digit the PDF conversion put on a line of its own.
BULSTAT_SPLIT_CODES = {133: "check digit '0' printed on a line of its own after the row",
                       223: "check digit '6' printed on a line of its own after the row"}
#: BULSTAT names with a visible conversion problem: (row, clean name or None = keep, note).
BULSTAT_NAME_NOTES = {
    131: ('СДРУЖЕНИЕ "КЛЪСТЕР ЕКО И ЗДРАВОСЛОВЕН ТУРИЗЪМ"',
          "name contains Greek capital Omicron and Sigma (ΟΣ) in ЗДРАВΟΣЛОВЕН, replaced by "
          "Cyrillic О and С in name_clean"),
    210: (None, "name garbled by the PDF conversion: two names merged ('КЛЪСТЕР ЗА РАЗВИТИЕ НА "
                "ХАРТИЕ[НОТО ПРОИЗВОДСТВО В БЪЛГАРИЯ]' and 'ДЗЗД \"КОМУНАЛНА ТЕХТИКА - АЛЕКС\"'); "
                "kept as printed, the code's real name cannot be read from the guide "
                "(row 216 carries the first name with another code)"),
}

#: Stage words of the BSMEPA table -> category.
STAGES = {"начален етап": "start-up", "развиващи се": "developing", "развиващ се": "developing",
          "развит": "developed", "некатегоризиран": "uncategorised"}
BSMEPA_MISSING = [*range(12, 19), *range(31, 37), *range(59, 65)]

#: Broken words in BSMEPA names: row -> (printed fragment, joined form).
BSMEPA_WORD_JOINS = {9: ("Електромобилн ост", "Електромобилност"),
                     48: ("инфраструктур а", "инфраструктура"),
                     50: ("инфраструктур а", "инфраструктура")}

#: Clean web addresses taken from the guide's own References list (seed line, address as printed
#: there). Used only for rows whose table cell holds a garbled or split address of the same site
#: (or, row 46, see below). Rows not listed keep their address as printed if it is well-formed.
BSMEPA_WEBSITE_FROM_REFERENCES = {
    2: (788, "https://www.asas-bg.com/home"),
    3: (790, "http://greensynergycluster.eu"),
    5: (794, "http://healthandsafetybg.com/"),
    9: (798, "http://etcbg.com/cluster.html"),
    19: (806, "http://itbsc.org/"),
    20: (818, "http://www.cluster-dsc.com/"),
    23: (820, "https://bulgariasmexoprtcluster.wordpress.com/"),
    24: (824, "http://hoists-bulgaria.com/"),
    25: (825, "http://knowledgesofia.eu/bg/"),
    28: (827, "http://cluster.tpkunion.com/clustertpk/"),
    37: (833, "http://kida.bg/"),
    39: (834, "http://wwcis.com/"),
    43: (835, "http://www.bap-bg.org/"),
    45: (836, "http://www.atlasnet.bg/page.php?id=17"),
    46: (837, "http://weldtechcluster.com/"),
    50: (839, "http://www.ikpi.eu/"),
    51: (840, "http://www.daskalo.com/inko-bg/"),
    52: (841, "http://nanoacademy.bg/about-us/"),
    53: (842, "https://cleantechbgcluster.wordpress.com/"),
    54: (843, "http://www.clusteritos.org/"),
    55: (844, "http://www.kook.bg/"),
    56: (845, "http://greensynergycluster.eu/"),
    57: (846, "http://mens-fashion-cluster.eu/"),
    58: (847, "http://www.creeo.bg/index.php/bg/"),
    65: (853, "https://srednogorie.eu/"),
    66: (854, "http://www.btcluster.org/bg/content/about-us"),
    67: (859, "http://www.automol.bg/"),
    72: (863, "http://csrexporters.com/"),
}
#: Cells that say "no website" rather than giving one.
NO_WEBSITE = {"няма собствен сайт", "няма"}


def seed_path() -> Path:
    return shared_dir() / "seeds" / SEED


def read_seed() -> list[str]:
    return seed_path().read_text(encoding="utf-8").split("\n")


def find_line(lines: list[str], text: str, start: int = 0) -> int:
    """0-based index of the first line equal to ``text`` (after stripping) at or after ``start``."""
    for i in range(start, len(lines)):
        if lines[i].strip() == text:
            return i
    raise ValueError(f"{SEED}: heading {text!r} not found after line {start + 1}")


def table_lines(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    """(1-based line number, text) of the non-empty, non-page-header lines in [start, end)."""
    return [(i + 1, lines[i]) for i in range(start, end)
            if lines[i].strip() and not PAGE_HEADER.search(lines[i].strip())]


# ------------------------------------------------------------------------------------------------
# BULSTAT
# ------------------------------------------------------------------------------------------------
def transcribe_bulstat(lines: list[str]) -> pd.DataFrame:
    start = find_line(lines, "List of clusters, registered with BULSTAT",
                      find_line(lines, "List of studied clusters, categorized by BSMEPA"))
    end = find_line(lines, "List of clusters, registered in the Trade Register", start)
    body = table_lines(lines, start + 1, end)
    assert body[0][1].split("\t")[1:] == ["BULSTAT", "Name"], body[0]
    rows, pending = [], None
    for lineno, text in body[1:]:
        cells = text.split("\t")
        if cells[0] == "" and pending is not None:  # the orphaned check digit of a split code
            digit = cells[1].strip()
            assert re.fullmatch(r"\d", digit), (lineno, text)
            pending["code_raw"] += f" / {digit}"
            pending["repairs"] = (f"code joined with line {lineno}: "
                                  + BULSTAT_SPLIT_CODES[pending["row"]])
            pending = None
            continue
        row, code_raw, name = int(cells[0]), cells[1], "\t".join(cells[2:])
        rec = {"row": row, "code_raw": code_raw, "name": name, "name_clean": name, "note": "",
               "repairs": "", "source_line": lineno}
        if "<u>" in code_raw:
            rec["repairs"] = "underline markup <u>…</u> around the check digit removed"
        if row in BULSTAT_SPLIT_CODES:
            pending = rec
        if row in BULSTAT_NAME_NOTES:
            clean, note = BULSTAT_NAME_NOTES[row]
            if clean is not None:
                rec["name_clean"] = clean
                rec["repairs"] = note
            else:
                rec["note"] = note
        rows.append(rec)
    df = pd.DataFrame(rows)
    df["code"] = df["code_raw"].str.replace(r"</?u>", "", regex=True).str.replace(r"\D", "",
                                                                                   regex=True)
    for r in df.itertuples():
        problem = eik_problem(r.code)
        if problem:
            raise ValueError(f"{SEED} line {r.source_line}, BULSTAT row {r.row}: {problem}")
    df["bulstat9"] = df["code"].str[:9]
    df["branch"] = df["code"].str[9:]
    return df[["row", "code_raw", "code", "bulstat9", "branch", "name", "name_clean", "note",
               "repairs", "source_line"]]


# ------------------------------------------------------------------------------------------------
# Trade Register
# ------------------------------------------------------------------------------------------------
TR_ROW = re.compile(r"^(?P<row>\d+)\t(?P<entity>.+?) (?P<form>АД|ЕООД|ООД|Сдружение)"
                    r"(?: - (?P<status>.+?))?, ЕИК/ПИК (?P<eik>\d+)\s*$")


def transcribe_trade_register(lines: list[str]) -> pd.DataFrame:
    start = find_line(lines, "List of clusters, registered in the Trade Register",
                      find_line(lines, "List of studied clusters, categorized by BSMEPA"))
    end = find_line(lines, "Списък на изследваните клъстери, категоризирани от ИАНМСП", start)
    body = table_lines(lines, start + 1, end)
    assert body[0][1].strip() == "Legal entity", body[0]
    rows = []
    for lineno, text in body[1:]:
        m = TR_ROW.match(text)
        if not m:
            raise ValueError(f"{SEED} line {lineno}: Trade Register row not understood: {text!r}")
        entity = m["entity"]
        # The name is printed inside one pair of outer quotes; inner quotes are the guide's.
        name = entity[1:-1] if entity.startswith('"') and entity.endswith('"') else entity
        repairs = ""
        if m["row"] == "72":  # '"…ТЕХНИКА""': an opening quote is missing, not a closing one
            name = entity[1:-2]
            repairs = "unbalanced closing quote '\"\"' dropped from the name"
        rows.append({"row": int(m["row"]), "eik": m["eik"], "name_raw": entity, "name": name,
                     "legal_form": m["form"], "status": m["status"] or "", "repairs": repairs,
                     "source_line": lineno})
    df = pd.DataFrame(rows)
    for r in df.itertuples():
        problem = eik_problem(r.eik)
        if problem:
            raise ValueError(f"{SEED} line {r.source_line}, Trade Register row {r.row}: {problem}")
    return df


# ------------------------------------------------------------------------------------------------
# BSMEPA
# ------------------------------------------------------------------------------------------------
BSMEPA_COLUMNS = ["row", "name_raw", "sector", "founding_year", "seat", "website_raw",
                  "members_raw", "member_types", "stage_raw", "functioning_status"]
HEADER = ["№.", "Име на клъстера", "Отрасъл", "Година на създаване", "Седалище",
          "Интернет страница", "Брой членове", "Видове членове", "Етап на развитие",
          "Етап на функциониране"]


def _bsmepa_cells(row: int, cells: list[str], repairs: list[str]) -> dict[str, str]:
    """Map one printed row's cells onto the 10 header columns, recording each shift."""
    while len(cells) > 10 and cells[-1] == "":  # trailing empty cells of rows 24-30
        cells = cells[:-1]
    if len(cells) == 11:
        # Rows 65-72 (last page) carry an extra empty column between seat and website.
        assert cells[5] == "", (row, cells)
        cells = cells[:5] + cells[6:]
        repairs.append("empty extra cell between seat and website (last page layout) dropped")
    if len(cells) == 9:
        # Rows 5-11: one cell fewer than the header. The printed cells show website and member
        # count present but the member-types cell absent (rows 6, 7, 9, 10 carry a count right
        # before the stage); the last two cells are stage and functioning status.
        cells = cells[:7] + [""] + cells[7:]
        repairs.append("one cell fewer than the header: member types absent, stage and status "
                       "taken from the last two cells")
    if len(cells) != 10:
        raise ValueError(f"BSMEPA row {row}: {len(cells)} cells, cannot map onto the header")
    return dict(zip(BSMEPA_COLUMNS, cells))


def _parse_members(text: str) -> tuple[int | None, bool, int | None]:
    """(members, members_at_least, foreign) from a printed count like '8 (2 чужди фирми)'."""
    text = text.strip()
    if not text:
        return None, False, None
    m = re.fullmatch(r"(\d+)(\+)?(?: \((\d+) чужд\w*(?: \w+)?\))?", text)
    if not m:
        raise ValueError(f"member count {text!r} not understood")
    return int(m[1]), bool(m[2]), int(m[3]) if m[3] else None


def transcribe_bsmepa(lines: list[str]) -> pd.DataFrame:
    start = find_line(lines, "Списък на изследваните клъстери, категоризирани от ИАНМСП")
    body = table_lines(lines, start + 1, len(lines))
    assert body[0][1].split("\t") == HEADER, body[0]
    printed: dict[int, tuple[int, list[str]]] = {}
    continuation = None
    for lineno, text in body[1:]:
        cells = text.split("\t")
        if cells[0] == "":
            continuation = (lineno, cells)
            continue
        printed[int(cells[0])] = (lineno, cells)
    rows = []
    for row in range(1, 73):
        if row in BSMEPA_MISSING:
            assert row not in printed
            rows.append({"row": row, "row_status": "missing_from_source",
                         "repairs": "row absent from the text (page lost in conversion); "
                                    "kept as a placeholder, no values guessed"})
            continue
        lineno, cells = printed[row]
        repairs: list[str] = []
        rec: dict = _bsmepa_cells(row, cells, repairs)
        rec["row"] = row
        rec["row_status"] = "ok"
        rec["source_line"] = str(lineno)
        # ---- row-specific repairs ----
        if row == 24:  # name and address continue on the next page (line `continuation`)
            cl, cc = continuation
            rec["name_raw"] = f"{rec['name_raw']} {cc[1]}"
            rec["website_raw"] = rec["website_raw"] + cc[6]
            rec["source_line"] = f"{lineno},{cl}"
            repairs.append(f"name and web address continue on line {cl} after the page break: "
                           f"'{cc[1]}' appended to the name, '{cc[6]}' to the address")
        if row in (25, 26, 28, 29):  # member count printed in the website column
            count, web = rec["website_raw"], rec["members_raw"]
            assert re.fullmatch(r"\d+", count), (row, count)
            rec["members_raw"], rec["website_raw"] = count, web
            repairs.append(f"member count '{count}' printed in the website column"
                           + (f" and address '{web}' in the member column: swapped" if web else
                              ": moved to members"))
        if row == 45:  # the address continues in row 46's website cell
            nxt = printed[46][1][5]
            rec["website_raw"] = f"{rec['website_raw']} {nxt}"
            repairs.append(f"web address continues in row 46's website cell ('{nxt}'): joined")
        if row == 46:
            repairs.append("website cell held the tail of row 45's address; moved to row 45")
            rec["website_raw"] = ""
            repairs.append("functioning status kept as printed; it reads like two statuses "
                           "merged ('след 2017 няма инфо по сайта' + 'няма собствен сайт и "
                           "информация за членове; член е на ABC'), the second possibly row 47's "
                           "(empty) status; not moved")
        if row == 11:
            rec["row_status"] = "partial"
            repairs.append("row cut by a page break: only name, sector, stage and the start of "
                           "the status ('няма') are printed; the rest of the page is missing")
        if row == 58:
            repairs.append("name ends mid-phrase ('…на енергийно'): kept as printed (the next "
                           "printed row is 65)")
        # ---- names ----
        name = rec["name_raw"]
        if row in BSMEPA_WORD_JOINS:
            broken, joined = BSMEPA_WORD_JOINS[row]
            assert broken in name, (row, name)
            name = name.replace(broken, joined)
            repairs.append(f"word broken by the conversion joined: '{broken}' -> '{joined}'")
        rec["name"] = name
        # ---- year ----
        rec["founding_year"] = rec["founding_year"].strip()
        # ---- members ----
        members, at_least, foreign = _parse_members(rec["members_raw"])
        if row == 25:
            # '20 търговски дружества (в т.ч. 1 чуждестранно), 1 научна организация,
            #  1 университет и 4 организации подпомагачи бизнеса' = 20+1+1+4 = 26, 1 foreign.
            assert members == 26
            foreign = 1
            repairs.append("foreign members (1) read from the member-type text "
                           "'(в т.ч. 1 чуждестранно)'; 20+1+1+4 = 26 agrees with the count")
        if row == 4:
            # '…десет български предприятия, една чуждестранна компания, една неправителствена
            #  организация и едно висше' = 10+1+1+1 = 13, 1 foreign.
            assert members == 13
            foreign = 1
            repairs.append("foreign members (1) read from the member-type text ('една "
                           "чуждестранна компания'); 10+1+1+1 = 13 agrees with the count")
        rec["members"] = members
        rec["members_at_least"] = at_least if members is not None else None
        rec["foreign_members"] = foreign
        # ---- stage ----
        parts = [p.strip() for p in rec["stage_raw"].split(";")]
        try:
            stages = [STAGES[p] for p in parts]
        except KeyError as exc:
            raise ValueError(f"{SEED} line {lineno}: BSMEPA row {row}: unknown stage {exc}") from None
        rec["stage"] = stages[0]
        rec["stage_2"] = stages[1] if len(stages) > 1 else ""
        # ---- website ----
        raw = rec["website_raw"].strip()
        rec["website_source"] = ""
        if row in BSMEPA_WEBSITE_FROM_REFERENCES:
            ref_line, url = BSMEPA_WEBSITE_FROM_REFERENCES[row]
            assert f"<{url}>" in lines[ref_line - 1] or url == lines[ref_line - 1].strip(), row
            rec["website_clean"] = url
            rec["website_source"] = f"references line {ref_line}"
            if raw != url:
                repairs.append(f"website_clean from the guide's References list (line {ref_line})")
        elif raw in NO_WEBSITE or not raw:
            rec["website_clean"] = ""
        else:
            assert re.fullmatch(r"https?://[\w.-]+(/[\w./?=-]*)?", raw), (row, raw)
            rec["website_clean"] = raw
            rec["website_source"] = "table"
        rec["repairs"] = " | ".join(repairs)
        rows.append(rec)
    cols = ["row", "row_status", "name_raw", "name", "sector", "founding_year", "seat",
            "website_raw", "website_clean", "website_source", "members_raw", "members",
            "members_at_least", "foreign_members", "member_types", "stage_raw", "stage", "stage_2",
            "functioning_status", "repairs", "source_line"]
    df = pd.DataFrame(rows).reindex(columns=cols)
    for c in ("members", "foreign_members"):
        df[c] = df[c].astype("Int64")
    df["members_at_least"] = df["members_at_least"].astype("boolean")
    return df


# ------------------------------------------------------------------------------------------------
# Table 1 (ECEI Bronze label), ABC active members, Table 2 (GBARD 2016)
# ------------------------------------------------------------------------------------------------
def transcribe_bronze_label(lines: list[str]) -> pd.DataFrame:
    start = find_line(lines, "Name\tField\twww\tLabel valid until")
    end = find_line(lines, "Table 1 List of Bulgarian clusters, awarded the Bronze label", start)
    body = [(n, t) for n, t in table_lines(lines, start + 1, end)
            if t.strip() != "Name\tField\twww\tLabel valid until"]  # header repeated on page 2
    rows = []
    for lineno, text in body:
        cells = [c.strip() for c in text.split("\t")]
        if rows and rows[-1]["name"].startswith("SCIAT") and len(rows[-1]["valid_until"]) and \
                text.startswith("Institute"):
            # SCIAT row continues after the page break: name and field are completed here.
            prev = rows[-1]
            prev["name"] = f"{prev['name']} {cells[0]}"
            prev["field"] = f"{prev['field']} {cells[1]}"
            prev["source_line"] = f"{prev['source_line']},{lineno}"
            prev["repairs"] = (f"row split by a page break: name and field continued on line "
                               f"{lineno} ('{cells[0]}', '{cells[1]}'), joined")
            continue
        name, field, www, valid = cells[:4]
        rows.append({"name": name, "field": field, "www": www,
                     "valid_until": valid.replace("/", "-"), "repairs": "",
                     "source_line": str(lineno)})
    df = pd.DataFrame(rows)
    df.insert(0, "row", range(1, len(df) + 1))
    return df


ABC_ITEM = re.compile(r"^- (?P<name>.+?)(?P<bronze> \(awarded a Bronze label\))?, "
                      r"(?P<region>\w+(?: \w+)?) /(?P<region_en>[^/]+)/ planning region - "
                      r"(?P<city>[^;.]+)[;.]$")


def transcribe_abc_members(lines: list[str]) -> pd.DataFrame:
    start = next(i for i, t in enumerate(lines) if t.startswith("The Association of clusters"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("The list clearly"))
    rows = []
    for lineno, text in table_lines(lines, start + 1, end):
        if not text.startswith("- "):
            continue  # the footnote printed between items 11 and 12
        m = ABC_ITEM.match(text.strip())
        if not m:
            raise ValueError(f"{SEED} line {lineno}: ABC member item not understood: {text!r}")
        rows.append({"name": m["name"], "bronze_label_noted": bool(m["bronze"]),
                     "planning_region": m["region"], "planning_region_en": m["region_en"],
                     "city": m["city"], "source_line": lineno})
    df = pd.DataFrame(rows)
    df.insert(0, "row", range(1, len(df) + 1))
    return df


def transcribe_gbard_table2(lines: list[str]) -> pd.DataFrame:
    start = find_line(lines, "GOVERNMENT BUDGET ALLOCATIONS FOR R&D BY SOCIO-ECONOMIC OBJECTIVES")
    end = find_line(lines, "Table 2 Government budget allocations for R&D by socio-economic "
                           "objectives", start)
    rows = []
    for lineno, text in table_lines(lines, start + 1, end):
        m = re.fullmatch(r"(?P<obj>[^\t\d][^\t]*)\t(?P<k>\d+)\t(?P<pc>\d+(?:,\d+)?)", text.strip())
        if m:
            rows.append({"objective": m["obj"], "thousand_bgn": int(m["k"]),
                         "percent_printed": m["pc"],
                         "percent": float(m["pc"].replace(",", ".")), "source_line": lineno})
    df = pd.DataFrame(rows)
    df.insert(0, "row", range(1, len(df) + 1))
    df.insert(1, "year", 2016)
    return df


# ------------------------------------------------------------------------------------------------
def repairs_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    out = []
    for name, df in tables.items():
        if "repairs" not in df.columns:
            continue
        for r in df.itertuples():
            if isinstance(r.repairs, str) and r.repairs:
                for item in r.repairs.split(" | "):
                    out.append({"table": name, "row": r.row, "repair": item})
    return pd.DataFrame(out)


def build() -> dict[str, pd.DataFrame]:
    lines = read_seed()
    tables = {"bulstat": transcribe_bulstat(lines),
              "trade_register": transcribe_trade_register(lines),
              "bsmepa": transcribe_bsmepa(lines),
              "bronze_label": transcribe_bronze_label(lines),
              "abc_active_members": transcribe_abc_members(lines),
              "gbard_2016_table2": transcribe_gbard_table2(lines)}
    tables["repairs"] = repairs_table(tables)
    return tables


def to_csv_text(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare with the committed CSVs; exit 1 if they differ")
    args = parser.parse_args(argv)
    digest = sha256_file(seed_path())
    if digest != SEED_SHA256:
        print(f"warning: {seed_path().name} sha256 {digest} differs from {SEED_SHA256}; "
              "line numbers and repairs were written for that version", file=sys.stderr)
    differ = []
    for name, df in build().items():
        path = OUT / f"{name}.csv"
        text = to_csv_text(df)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                differ.append(path.name)
        else:
            atomic_write_text(path, text)
            print(f"wrote {path.relative_to(OUT.parent.parent)}: {len(df)} rows")
    if differ:
        print("differ from the seed transcription: " + ", ".join(differ))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
