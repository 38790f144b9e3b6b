"""The European panel of H4 (clusterstats.analysis.rd_europe) on the real snapshot.

Known answers: Bulgaria's panel rows equal the H4 default run's values (C12 range, C13 'together'
ratio and its rounding bounds, population-weighted Theil T); Hungary's leader is the harmonised
capital region; Germany uses its nearest complete year and says so.
"""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clusterstats._paths import REPO_ROOT  # noqa: E402
from clusterstats.analysis import rd_europe, rd_regional  # noqa: E402
from clusterstats.params import ParameterError  # noqa: E402

SOME = ["BG", "DE", "HU", "RO"]


@pytest.fixture(scope="module")
def eu():
    return rd_europe.run(countries=SOME)


@pytest.fixture(scope="module")
def bg_h4():
    return rd_regional.run(country="BG")


def _row(rows, **where) -> pd.Series:
    sel = rows
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, where
    return sel.iloc[0]


@pytest.mark.parametrize("unit", rd_regional.UNITS)
def test_bulgaria_panel_rows_equal_the_h4_default_run(eu, bg_h4, unit):
    h4 = bg_h4.rows
    ratio = _row(eu.rows, country="BG", unit_code=unit, test="leader_to_others_together")
    c12 = _row(h4, test="leader_ratio_range", unit_code=unit)
    assert ratio["leader"] == c12["leader"] == "BG41" and int(ratio["year"]) == 2016
    assert float(ratio["ratio_min"]) == pytest.approx(float(c12["ratio_min"]), rel=1e-12)
    assert float(ratio["ratio_max"]) == pytest.approx(float(c12["ratio_max"]), rel=1e-12)
    if unit in rd_regional.TOTAL_UNITS:
        half = _row(h4, part="C13.half", unit_code=unit)
        for col in ("effect", "ci_low", "ci_high"):
            assert float(ratio[col]) == pytest.approx(float(half[col]), rel=1e-12), col
    if unit == "MIO_EUR":   # the H4 default run's inequality rows are in its unit, MIO_EUR
        theil = _row(eu.rows, country="BG", unit_code=unit, test="theil_t")
        assert float(theil["effect"]) == pytest.approx(float(_row(h4, test="theil_t")["effect"]), rel=1e-12)


def test_pooled_ratio_of_an_extract_by_hand(eu):
    # the per-inhabitant extract: BG41 over the others' population-weighted mean, 2016
    panel = rd_regional.regional_panel("BG", "BES_EUR_HAB", year=2016).data
    s = panel[panel["year"] == 2016].set_index("geo")
    others = s.drop("BG41")
    expected = s.loc["BG41", "value"] / ((others["value"] * others["population"]).sum() / others["population"].sum())
    row = _row(eu.rows, country="BG", unit_code="BES_EUR_HAB", test="leader_to_others_together")
    assert float(row["effect"]) == pytest.approx(expected, rel=1e-12)
    assert float(row["ci_low"]) < float(row["effect"]) < float(row["ci_high"])


def test_hungary_leader_is_the_harmonised_capital_region(eu):
    row = _row(eu.rows, country="HU", unit_code="MIO_EUR", test="leader_to_others_together")
    assert row["leader"] == "HU10" and "HU10 | HU11+HU12" in row["nuts_used"]
    assert "NUTS 2013" in row["method"]   # the NUTS version of the R&D data is named


def test_germany_uses_its_nearest_complete_year_and_says_so(eu):
    rows = eu.rows[(eu.rows["country"] == "DE") & (eu.rows["unit_code"] == "MIO_EUR")]
    assert set(rows["year"].astype(int)) == {2015}
    assert rows["caveats"].str.contains("complete year nearest to 2016").all()


def test_every_row_is_descriptive_c12_without_verdict(eu):
    rows = eu.rows
    assert set(rows["claim_id"]) == {"C12"} and set(rows["role"]) == {"descriptive"}
    assert rows["part"].isna().all() and rows["verdict"].isna().all()
    assert rows["run_id"].nunique() == 1 and rows["run_id"].iloc[0].startswith("h4_europe__countries-")
    country_rows = rows[rows["test"].isin(list(rd_europe.MEASURES))]
    assert country_rows["nuts_used"].str.startswith("NUTS ").all()
    assert country_rows["method"].str.contains("NUTS ").all()


def test_bulgaria_rank_matches_the_table(eu):
    t = eu.tables["panel"]
    g = t[(t["unit_code"] == "MIO_EUR") & (t["test"] == "leader_to_others_together")].set_index("country")
    expected = 1 + int((g["effect"] > g.loc["BG", "effect"]).sum())
    rank = _row(eu.rows, test="leader_to_others_together_rank_in_eu", unit_code="MIO_EUR")
    assert int(rank["effect"]) == expected and int(rank["n"]) == len(g)
    assert float(rank["eu_median"]) == pytest.approx(float(g["effect"].median()))


def test_figures_name_versions_and_dissolve_harmonised_units(eu):
    figs = rd_europe.hypothesis.figures(eu)
    assert set(figs) == {"h4_europe_disparity", "h4_europe_map"}
    _, data = figs["h4_europe_disparity"]
    assert {"country", "unit_code", "year", "nuts_used", "ci_low", "ci_high"} <= set(data.columns)
    _, shown = figs["h4_europe_map"]
    assert "HU10" in set(shown["geo"])   # drawn as the dissolved polygons of HU11 and HU12
    plt.close("all")


def test_h4_map_dissolves_hungary_capital_region():
    from clusterstats import maps

    an = rd_regional.run(country="HU")
    fig, data = rd_regional.figure_map(an)
    assert "HU10" in set(data["geo"])
    gdf = maps.load_nuts(2, "HU", 2021)
    merged, notes = rd_regional.harmonised_map(data, gdf)
    assert "HU10" in set(merged["NUTS_ID"]) and not {"HU11", "HU12"} & set(merged["NUTS_ID"])
    area = merged.to_crs(maps.MAP_CRS).set_index("NUTS_ID").area
    parts = gdf[gdf["NUTS_ID"].isin(["HU11", "HU12"])].to_crs(maps.MAP_CRS).area.sum()
    assert area["HU10"] == pytest.approx(parts, rel=1e-6) and notes == []
    plt.close(fig)


def test_dissolve_refuses_a_code_claimed_twice():
    from clusterstats import maps

    gdf = maps.load_nuts(2, "BG", 2021)
    units = pd.DataFrame({"unit_id": ["A", "B"], "code": ["BG41", "BG41"], "label": ["A", "B"]})
    with pytest.raises(ValueError, match="several units"):
        maps.dissolve_units(gdf, units)


@pytest.mark.parametrize("kwargs, text", [
    ({"countries": ["XX"]}, "countries"),
    ({"countries": ["BG", "RO"], "highlight": "HU"}, "highlight"),
    ({"year": "soon"}, "year"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        rd_europe.check_parameters(**kwargs)


def test_defaults_equal_the_notebook_parameters_cell():
    from clusterstats.notebook_params import read_parameters

    found = read_parameters(REPO_ROOT / "notebooks" / rd_europe.NOTEBOOK)
    assert {k: p.default for k, p in found.items()
            if k not in ("figures_dir", "results_dir")} == rd_europe.DEFAULTS


def test_pipeline_runs_the_panel_after_h4():
    import yaml

    doc = yaml.safe_load((REPO_ROOT / "notebooks" / "pipeline.yaml").read_text(encoding="utf-8"))
    names = [e["notebook"] for e in doc["notebooks"]]
    assert names.index("h4_europe.ipynb") == names.index("h4_regional_rd_disparity.ipynb") + 1


def test_notebook_is_thin_and_has_no_typed_numbers():
    import re

    from clusterstats.claims import claim_numbers

    nb = json.loads((REPO_ROOT / "notebooks" / rd_europe.NOTEBOOK).read_text(encoding="utf-8"))
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for step in ("rd_europe.hypothesis", "H.context(", "H.compute(ctx)", "H.judge(evidence)",
                 "H.save(ctx", "H.narrative("):
        assert step in code, step
    assert not re.search(r"import\s+_|\._\w+|from\s+\S*\._", code)
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    allowed = claim_numbers()
    for cell in (c for c in nb["cells"] if c["cell_type"] == "markdown"):
        text = re.sub(r"\bC\d\d(\.\w+)?", "", "".join(cell["source"]))
        for number in re.findall(r"\d+(?:\.\d+)?", text):
            assert (number.isdigit() and 1990 <= int(number) <= 2030) or number in allowed, number


@pytest.mark.slow
def test_notebook_runs_with_papermill(tmp_path):
    pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager

    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel 'clusterstats' not installed (make install)")
    import papermill

    fig, res = tmp_path / "fig", tmp_path / "res"
    papermill.execute_notebook(str(REPO_ROOT / "notebooks" / rd_europe.NOTEBOOK), str(tmp_path / "out.ipynb"),
                               kernel_name="clusterstats", progress_bar=False,
                               cwd=str(REPO_ROOT / "notebooks"),
                               parameters={"countries": ["BG", "HU", "RO"], "figures_dir": str(fig),
                                           "results_dir": str(res)})
    runs = [d.name for d in fig.iterdir()]
    assert len(runs) == 1 and runs[0].startswith("h4_europe__countries-")
    for stem in ("h4_europe_disparity", "h4_europe_map"):
        for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
            assert (fig / runs[0] / f"{stem}.{ext}").exists(), f"{stem}.{ext}"
    rows = pd.read_csv(res / "rows" / f"{runs[0]}.csv")
    assert set(rows["claim_id"]) == {"C12"} and set(rows["role"]) == {"descriptive"}
    assert rows["verdict"].isna().all()
    prov = json.loads((fig / runs[0] / "h4_europe_map.provenance.json").read_text(encoding="utf-8"))
    assert "tgs00042" in json.dumps(prov)
