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


def test_nuts_version_of_each_lq_input_is_in_the_caveats(first):
    caveats = first.rows["caveats"].iloc[0]
    for name in h3.LQ_NUTS_VERSIONS:
        assert name in caveats
    assert "bd_enace2_r3" in caveats and "NUTS 2021" in caveats


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
