"""H4 for every EU country with regional data, in every unit (issue 12, 'Done when').

For each country and unit, with the default year (2016) and with year="nearest", H4 either
  * refuses with a reason (ParameterError in the parameter check, NotComparableError in the run), or
  * reports a leader that is a region (or harmonised unit) present in every input, and compares a
    set of regions that covers every region of the country found in the recorded inputs of that
    year: each raw code is a member of a compared unit or is named in the rows' caveats.
The raw codes are read from the snapshot CSV files directly (not through load_snapshot or the
panel), so the check is independent of the harmonisation it tests. Calls the pure functions, not
the notebook.
"""
from __future__ import annotations

import re

import pandas as pd
import pytest

from clusterstats import nuts
from clusterstats._paths import data_dir
from clusterstats.analysis import rd_europe, rd_regional
from clusterstats.params import ParameterError

EXTRACT_FILE = {"BES_EUR_HAB": "rd_e_gerdreg_bes_eur_hab", "GOV_EUR_HAB": "rd_e_gerdreg_gov_eur_hab"}


def _raw(name: str) -> pd.DataFrame:
    if name == "tgs00003":
        df = pd.read_csv(data_dir() / "eurostat" / "tgs00096_tgs00003_nuts2.csv", dtype=str,
                         keep_default_na=False)
        df = df[(df["dataset"] == "tgs00003") & (df["unit"] == "MIO_EUR")]
    else:
        df = pd.read_csv(data_dir() / "eurostat" / f"{name}.csv", dtype=str, keep_default_na=False)
        if "unit" in df.columns and name.startswith(("nama", "tgs00096")):
            df = df[df["unit"] == "MIO_EUR"]
    return df[df["value"].str.strip() != ""]


def _codes_in(name: str, country: str, year: int) -> set[str]:
    df = _raw(name)
    geo = df["geo"]
    keep = geo.str.fullmatch(rf"{country}[0-9A-Z]{{2}}") & ~geo.str.endswith(("ZZ", "XX"))
    return set(geo[keep & (df["time"] == str(year))])


def _inputs(panel, unit: str) -> list[str]:
    if unit in EXTRACT_FILE:
        return [EXTRACT_FILE[unit]]
    gdp = re.search(r"regional GDP from (\S+) ", " ".join(panel.notes)).group(1)
    return ["tgs00042", gdp, "demo_r_pjanaggr3"]


def _one(country: str, unit: str, year) -> str:
    """'refused: <reason>' or 'ok <leader>'; asserts the coverage of an accepted run."""
    try:
        p = rd_regional.resolve_year(rd_regional.check_parameters(country=country, unit=unit, year=year))
    except ParameterError as exc:
        assert str(exc).strip()
        return f"refused: {exc}"
    panel = rd_regional.regional_panel(country, unit, year=p["year"])
    try:
        ratios = rd_regional.ratio_table({unit: panel}, p, [])
    except (ParameterError, nuts.NotComparableError) as exc:
        assert str(exc).strip()
        return f"refused: {exc}"
    y = p["year"]
    sub = panel.data[panel.data["year"] == y]
    leader = ratios["leader"].iloc[0]
    lead = sub[sub["geo"] == leader]
    assert len(lead) == 1, (country, unit, leader)
    # the unit's own inputs: tgs00042 (all units), GDP (million EUR, per inhabitant), population
    # (per inhabitant); population is otherwise only a weight of the inequality indices
    needs = ["value"] + {"PC_GDP": ["pc_gdp"], "MIO_EUR": ["pc_gdp", "gdp_mio_eur"],
                         "EUR_HAB": ["pc_gdp", "gdp_mio_eur", "population"]}.get(unit, [])
    assert lead[needs].notna().all().all(), (country, unit, leader, lead[needs])
    covered = set().union(*(set(re.split(r"[ |+]+", str(lab))) for lab in sub["label"]))
    caveats = rd_regional.caveat_text(panel, y)
    for name in _inputs(panel, unit):
        for code in _codes_in(name, country, y):
            assert code in covered or re.search(rf"\b{code}\b", caveats), \
                f"{country} {unit} {y}: {code} in {name} is neither compared nor named ({caveats})"
    excluded = rd_regional.excluded_units(panel, y)
    assert 2 * len(excluded) <= len(excluded) + len(sub), (country, unit, y, excluded)
    if year == "nearest":
        assert y in rd_regional.complete_years(country, unit, y) and not excluded
    return f"ok {leader}"


@pytest.mark.slow
@pytest.mark.parametrize("country", rd_europe.eu_countries())
def test_every_eu_country_reports_a_real_leader_or_refuses(country):
    outcomes = {(u, str(y)): _one(country, u, y) for u in rd_regional.UNITS for y in (2016, "nearest")}
    if country in ("DE", "FR", "IE", "EL"):
        # no 2016 value: refused in the parameter check, with the years that have data
        assert outcomes[("MIO_EUR", "2016")].startswith("refused: year=2016")
    if country == "HU":
        assert outcomes[("MIO_EUR", "2016")] == "ok HU10"     # HU10 = HU11 + HU12, harmonised
    if country == "PT":
        assert outcomes[("MIO_EUR", "2016")] == "ok PT17"     # Lisbon
    if country == "BG":
        assert outcomes[("MIO_EUR", "2016")] == "ok BG41"


def test_country_without_data_in_the_year_fails_in_the_parameter_check():
    # Germany's tgs00042 regions have no 2016 value; the message lists the complete years
    with pytest.raises(ParameterError, match=r"year=2016: no MIO_EUR data for DE; years with complete"
                                             r" harmonised MIO_EUR data for DE: 2015, 2017, 2019"):
        rd_regional.check_parameters(country="DE", year=2016)
    rd = _raw("tgs00042")
    de = rd[rd["geo"].str.fullmatch(r"DE[0-9A-Z]{2}")]
    assert "2016" not in set(de["time"]) and "2015" in set(de["time"])
    # through the declared hypothesis the same error comes from the context (the notebook's cell)
    with pytest.raises(ParameterError, match="year=2016"):
        rd_regional.hypothesis.context(country="DE")


def test_year_nearest_uses_the_nearest_complete_year_and_says_so_in_every_row():
    ev = rd_regional.run(country="DE", year="nearest")
    assert set(ev.rows["year"].dropna().astype(int)) == {2015}   # 2015 and 2017 tie: the earlier
    assert ev.rows["caveats"].str.contains("year 2015: the year nearest to 2016 with complete "
                                           "harmonised MIO_EUR data for DE").all()
    assert set(ev.rows["run_id"]) == {"h4_regional_rd_disparity__country-DE__year-nearest"}
    assert '"year": "nearest"' in ev.rows["parameters"].iloc[0]


def test_nearest_for_bulgaria_is_2016_but_not_the_default_run():
    ev = rd_regional.run(country="BG", year="nearest")
    judged = ev.rows[ev.rows["role"].isin(["primary", "sensitivity"])]
    assert set(judged["role"]) == {"sensitivity"}        # only the default run decides
    assert set(judged["year"].astype(int)) == {2016}


def test_a_minority_excluded_by_name_is_compared_and_named():
    # Germany 2021: Saarland (DEC0) has GDP and population but no tgs00042 value
    panel = rd_regional.regional_panel("DE", "MIO_EUR", year=2021)
    assert "DEC0" in rd_regional.excluded_units(panel, 2021)
    assert 2021 not in rd_regional.complete_years("DE", "MIO_EUR", 2021)
    p = rd_regional.check_parameters(country="DE", year=2021)
    ratios = rd_regional.ratio_table({"MIO_EUR": panel}, p, [])
    assert "DEC0" not in set(ratios["other"].dropna())
    assert "DEC0" in rd_regional.caveat_text(panel, 2021)


def test_bad_year_text_is_refused():
    with pytest.raises(ParameterError, match="nearest"):
        rd_regional.check_parameters(year="latest")
