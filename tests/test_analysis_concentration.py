"""H3 (clusters concentrate in Sofia) on the real register and snapshot, cross-checked by
independent recounts from the raw CSV files with the csv module and by hand arithmetic."""
from __future__ import annotations

import csv
import math

import pandas as pd
import pytest

from clusterstats._paths import data_dir
from clusterstats.analysis import concentration as h3
from clusterstats.params import ParameterError


def _bsmepa_seats() -> list[str]:
    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8", newline="") as fh:
        return [r["seat"].strip() for r in csv.DictReader(fh)
                if r["row_status"] != "missing_from_source" and r["seat"].strip()]


def _sum_csv(path, keep) -> dict[str, float]:
    out: dict[str, float] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            key = keep(r)
            if key:
                out[key] = out.get(key, 0.0) + float(r["value"])
    return out


@pytest.fixture(scope="module")
def first():
    return h3.run()


def test_sofia_count_matches_a_recount_of_the_raw_register(first):
    seats = _bsmepa_seats()
    # Every Sofia seat is printed starting with the word "София" (first town) or containing it.
    first_sofia = sum(s.startswith("София") for s in seats)
    any_sofia = sum("София" in s for s in seats)
    row = first.rows.iloc[0]
    assert row["test"] == "share seated in Sofia vs 0.5"
    assert (int(row["statistic"]), int(row["n"])) == (first_sofia, len(seats))
    both = h3.run(count_two_town_seats="both").rows.iloc[0]
    assert (int(both["statistic"]), int(both["n"])) == (any_sofia, len(seats))


def test_binomial_p_value_by_hand(first):
    row = first.rows.iloc[0]
    k, n = int(row["statistic"]), int(row["n"])
    p = sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n
    assert row["p_value"] == pytest.approx(p, rel=1e-9)
    assert row["effect"] == pytest.approx(k / n)


def test_sofia_share_of_population_and_enterprises_from_the_snapshot_files(first):
    pop = _sum_csv(data_dir() / "nsi" / "nsi_population_district.csv",
                   lambda r: r["nuts3"] if r["level"] == "district" and r["year"] == "2016" else None)
    ent = _sum_csv(data_dir() / "eurostat" / "bd_enace2_r3.csv",
                   lambda r: r["geo"] if (r["indic_sb"], r["nace_r2"], r["time"]) ==
                   ("V11910", "B-S_X_K642", "2016") else None)
    assert len(pop) == len(ent) == 28
    k, n = int(first.rows.iloc[0]["statistic"]), int(first.rows.iloc[0]["n"])
    rows = first.rows.set_index("test")
    nsi = rows.filter(like="population (NSI", axis=0).iloc[0]
    bd = rows.filter(like="enterprises", axis=0).iloc[0]
    assert nsi["effect"] == pytest.approx((k / n) / (pop["BG411"] / sum(pop.values())))
    assert bd["effect"] == pytest.approx((k / n) / (ent["BG411"] / sum(ent.values())))


def test_district_lq_of_sofia_by_hand(first):
    lq = first.tables["lq_district"]
    sofia = lq[(lq["base"] == "enterprises") & (lq["region"] == "BG411")].iloc[0]
    base = first.tables["base"].set_index("nuts3")["enterprises"]
    k, n = int(first.rows.iloc[0]["statistic"]), int(first.rows.iloc[0]["n"])
    assert sofia["effect"] == pytest.approx((k / n) / (base["BG411"] / base.sum()))
    assert len(lq) == 3 * 28 and len(first.tables["lq_nuts2"]) == 3 * 6


def test_rows_carry_claim_parts_and_roles(first):
    rows = first.rows
    assert set(rows["claim_id"]) == {"C07"} and set(rows["hypothesis"]) == {"H3"}
    assert set(rows["run_id"]) == {"h3_concentration"}
    judged = rows[rows["role"].isin(["primary", "sensitivity"])]
    assert set(judged["part"]) == {"C07.more_than_half", "C07.followers"}
    assert judged["verdict"].notna().all()
    # Sofia against its population and enterprise shares: descriptive, no verdict
    descriptive = rows[rows["role"] == "descriptive"]
    assert len(descriptive) == 3 and descriptive["verdict"].isna().all()


def test_more_than_half_is_inconclusive_not_supported(first):
    # 23 of 42 (55 %) is above one half, but the one-sided exact test gives p = 0.32: no
    # evidence for "more than half", and none against it (the interval reaches above 0.5).
    row = first.rows[first.rows["part"] == "C07.more_than_half"].iloc[0]
    assert (int(row["statistic"]), int(row["n"])) == (23, 42)
    assert row["p_value"] == pytest.approx(0.322, abs=1e-3)
    assert row["rule"] == "one_sided" and row["verdict"] == "inconclusive"
    assert "alpha=0.1: inconclusive" in row["verdict_sensitivity"]


def test_followers_varna_has_no_printed_seat_and_the_bounds_allow_anything(first):
    follow = first.rows[first.rows["part"] == "C07.followers"].iloc[0]
    # Varna has no printed seat (recount: no seat names Варна).
    assert not any("Варна" in s for s in _bsmepa_seats())
    assert "Varna: 0" in follow["note"]
    assert int(follow["effect"]) == 2  # Plovdiv and Burgas rank 2nd-4th, Varna does not
    assert (follow["ci_low"], follow["ci_high"]) == (0, 3)
    assert follow["rule"] == "within_bounds" and follow["verdict"] == "inconclusive"


def test_follower_bounds_on_hand_made_counts():
    counts = pd.Series({"S": 10, "P": 4, "B": 2, "V": 0, "X": 3, "Y": 1, "Z": 0})
    assert h3.follower_bounds(counts, ["P", "B", "V"], 0, ("S",)) == (2, 2, 2)
    # ranks by hand: S 10, P 4, X 3, B 2, Y 1, V 0, Z 0 -> P 2nd, B 4th, V has none
    # one unknown cluster changes nothing: V at 1 has four districts above it; Y at 2 only ties B
    assert h3.follower_bounds(counts, ["P", "B", "V"], 1, ("S",)) == (2, 2, 2)
    # two: V at 2 has only S, P, X above it (most 3); Y at 3 puts a fourth district above B
    assert h3.follower_bounds(counts, ["P", "B", "V"], 2, ("S",)) == (2, 1, 3)


def test_the_claim_is_inconclusive_in_the_default_run(first):
    from clusterstats.rules import combine_parts
    primary = first.rows[first.rows["role"] == "primary"]
    assert combine_parts(primary["verdict"].tolist()) == "inconclusive"


def test_register_and_two_town_runs_are_sensitivity_runs():
    both = h3.run(count_two_town_seats="both")
    judged = both.rows[both.rows["part"].notna()]
    assert set(judged["role"]) == {"sensitivity"}
    assert set(both.rows["run_id"]) == {"h3_concentration__count_two_town_seats-both"}
    assert h3.run(alpha=0.1).rows.loc[0, "role"] == "primary"


def test_nuts_version_of_each_lq_input_is_derived_and_in_the_caveats(first):
    caveats = first.rows["caveats"].iloc[0]
    versions = h3.LQ_NUTS_VERSIONS()
    assert versions == first.values["nuts_versions"]
    for name in h3.LQ_INPUTS.values():
        assert name in versions and name in caveats
    # every BG NUTS 2 code set fits every recorded version (codes unchanged since NUTS 2010)
    assert "fit NUTS 2010/2013/2016/2021/2024 (exact)" in versions["Eurostat bd_enace2_r3"]
    assert "(subset)" in versions["cluster seats"]          # regions without a seat
    assert "excluded" not in versions and "harmonised units" not in versions


def test_bg_nuts2_partition_is_the_identity_and_lqs_are_unchanged(first):
    from clusterstats.geography import districts
    from clusterstats.stats.location import cluster_lq

    d = districts()
    assert (d["nuts2"] == d["nuts3"].str[:4]).all()      # districts.csv agrees with the code parent
    base, _ = h3.base_shares(2016)
    units = first.tables["units"]
    by_region = units.dropna(subset=["nuts2"]).groupby("nuts2")["weight"].sum()
    base2 = base.groupby(d.set_index("nuts3")["nuts2"].reindex(base.index).to_numpy()).sum()
    lq, aligned = h3.nuts2_lq(by_region, base2, 0.95, h3._base_names(2016), input_names=h3.LQ_INPUTS)
    part = aligned.partition
    assert sorted(set(part["code"])) == [f"BG{c}" for c in ("31", "32", "33", "34", "41", "42")]
    assert (part["unit_id"] == part["code"]).all() and set(part["kind"]) == {"unchanged"}
    assert (aligned.report["status"] == "comparable").all()
    for col in base2.columns:
        direct = cluster_lq(by_region, base2[col], 0.95).set_index("region")
        mine = lq[lq["base"] == col].set_index("region")
        pd.testing.assert_series_equal(mine["effect"], direct["effect"].reindex(mine.index),
                                       check_names=False)
        pd.testing.assert_series_equal(mine["ci_high"], direct["ci_high"].reindex(mine.index),
                                       check_names=False)
    pd.testing.assert_frame_equal(first.tables["lq_nuts2"].drop(columns="label"),
                                  lq.drop(columns="label"))


def _recorded(name: str, country: str, year: int, unit: str | None = None) -> dict[str, float]:
    def keep(r):
        ok = (len(r["geo"]) == 4 and r["geo"][:2] == country and r["time"] == str(year)
              and r["value"] != "" and not r["geo"].endswith(("ZZ", "XX"))
              and (unit is None or r["unit"] == unit))
        return r["geo"] if ok else None
    return _sum_csv(data_dir() / "eurostat" / f"{name}.csv", keep)


def test_nuts2_lq_harmonises_hungary_known_answer():
    """Real case with changed codes: Hungarian population 1 Jan 2016 (demo_r_pjanaggr3, NUTS 2016
    codes HU11, HU12) against GDP 2014 (nama_10r_2gdp, 2017 vintage, NUTS 2013 code HU10) as
    counts and base. Not a cluster analysis: it exercises the harmonisation path with recorded
    files, checked with the csv module and hand arithmetic."""
    pop = _recorded("demo_r_pjanaggr3", "HU", 2016)
    gdp = _recorded("nama_10r_2gdp_2017", "HU", 2014, unit="MIO_EUR")
    assert "HU10" in gdp and "HU10" not in pop and {"HU11", "HU12"} <= set(pop)
    lq, aligned = h3.nuts2_lq(pd.Series(pop), pd.DataFrame({"gdp": pd.Series(gdp)}), 0.95,
                              {"gdp": "GDP"}, country="HU", counts_name="population")
    assert aligned.versions == {"population": 2024, "gdp": 2013}
    row = lq.set_index("region").loc["HU10"]
    capital = pop["HU11"] + pop["HU12"]
    assert row["statistic"] == capital and row["label"] == "HU10 | HU11+HU12"
    expected = (capital / sum(pop.values())) / (gdp["HU10"] / sum(gdp.values()))
    assert math.isclose(row["effect"], expected, rel_tol=1e-12)
    assert sorted(lq["region"]) == sorted(["HU10"] + [c for c in gdp if c != "HU10"])


def test_nuts2_lq_excludes_by_name_what_cannot_be_compared():
    """Portugal's 2026-vintage GDP for 2016 has no value for PT16-PT18 (they exist there only
    in NUTS 2024 codes from 2021): those three are excluded by name, a minority, and the leader
    (most population, PT11 Norte) is comparable, so the LQs cover the other units only."""
    pop = _recorded("demo_r_pjanaggr3", "PT", 2016)
    gdp = _recorded("nama_10r_2gdp_2026", "PT", 2016, unit="MIO_EUR")
    assert "PT17" not in gdp and max(pop, key=pop.get) == "PT11"
    lq, aligned = h3.nuts2_lq(pd.Series(pop), pd.DataFrame({"gdp": pd.Series(gdp)}), 0.95,
                              {"gdp": "GDP"}, country="PT", counts_name="population")
    excluded = aligned.report.loc[aligned.report["status"] == "excluded", "unit_id"]
    assert sorted(excluded) == ["PT16", "PT17", "PT18"]
    assert sorted(lq["region"]) == sorted(gdp)
    assert "PT17" in h3.nuts.describe_versions(aligned)["excluded"]


def test_nuts2_lq_refuses_when_the_leader_cannot_be_compared():
    """The same inputs with Lisbon as the region of most counts (population less Norte's, a
    real series with one region left out): the comparison is refused, not reported."""
    from clusterstats import nuts

    pop = _recorded("demo_r_pjanaggr3", "PT", 2016)
    gdp = _recorded("nama_10r_2gdp_2026", "PT", 2016, unit="MIO_EUR")
    del pop["PT11"]
    assert max(pop, key=pop.get) == "PT17"
    with pytest.raises(nuts.NotComparableError, match="leading region PT17"):
        h3.nuts2_lq(pd.Series(pop), pd.DataFrame({"gdp": pd.Series(gdp)}), 0.95, {"gdp": "GDP"},
                    country="PT", counts_name="population")


def test_lq_map_states_both_nuts_versions_and_refuses_lost_regions():
    from clusterstats import nuts

    text = h3.map_join(["BG31", "BG41"], ["BG31", "BG32", "BG41"], 2016)
    assert "geometries NUTS 2016" in text and "2010/2013/2016/2021/2024" in text
    with pytest.raises(nuts.NotComparableError, match="HU10"):
        h3.map_join(["HU10", "HU21"], ["HU11", "HU12", "HU21"], 2016, country="HU")
    with pytest.raises(nuts.NotComparableError, match="BG999"):
        h3.map_join(["BG999"], ["BG411"], 2021, level="nuts3")


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 1.5}, "alpha"),
    ({"register": "bulstat"}, "register"),
    ({"count_two_town_seats": "all"}, "count_two_town_seats"),
    ({"sofia": "metro"}, "sofia"),
    ({"reference_year": 2010}, "reference_year"),
    ({"reference_year": "2016"}, "reference_year"),
    ({"regoin": "BG"}, "unknown parameter"),
])
def test_bad_parameters_raise_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        h3.run(**kwargs)


def test_output_name_marks_non_default_runs():
    assert h3.output_name(dict(h3.DEFAULTS)) == "h3_concentration"
    assert h3.output_name({**h3.DEFAULTS, "alpha": 0.1}) == "h3_concentration__alpha-0.1"


def test_two_town_seats_are_the_eight_read_off_the_table(first):
    # Read by eye from the guide's BSMEPA table: rows whose seat names two towns.
    two_town_rows = {"24", "28", "37", "51", "52", "54", "55", "58"}
    with open(data_dir() / "registry" / "bsmepa.csv", encoding="utf-8", newline="") as fh:
        seats = {r["row"]: r["seat"] for r in csv.DictReader(fh)}
    assert all(seats[r] for r in two_town_rows)
    assert "8 seats name two towns" in first.rows["caveats"].iloc[0]
    split = h3.run(count_two_town_seats="split")
    units = split.tables["units"]
    assert units.groupby("cluster_id")["weight"].sum().round(9).eq(1).all()
    assert (units["weight"] == 0.5).sum() == 2 * len(two_town_rows)
