"""Geography tables (from NSI EKATTE) and place resolution."""
from __future__ import annotations

import json

import pytest

from clusterstats import geography
from clusterstats._paths import mirror_dir

EKATTE = mirror_dir() / "nsi" / "ekatte"


def test_shipped_tables_shape():
    d = geography.districts()
    assert len(d) == 28 and d["district"].is_unique and d["nuts3"].is_unique
    assert set(d["nuts3"].str[:4]) == {"BG31", "BG32", "BG33", "BG34", "BG41", "BG42"}
    assert d.set_index("district").loc["VRC", "nuts3"] == "BG313"
    n = geography.nuts2_regions()
    assert n["nuts2"].tolist() == ["BG31", "BG32", "BG33", "BG34", "BG41", "BG42"]
    assert n.set_index("nuts2").loc["BG31", ["name_latin", "name_en"]].tolist() == \
        ["Severozapaden", "North-West"]
    assert len(geography.municipalities()) == 265
    assert len(geography.settlements()) == 5256


@pytest.mark.skipif(not EKATTE.exists(), reason="shared mirror not available")
def test_rebuild_matches_shipped_tables(tmp_path):
    prov = geography.rebuild(out_dir=tmp_path)
    for name in ("settlements", "municipalities", "districts", "nuts2"):
        assert (tmp_path / f"{name}.csv").read_bytes() == \
            (geography.geography_dir() / f"{name}.csv").read_bytes(), name
    assert prov["ek_atte.json"]["rows"] == 5256


@pytest.mark.skipif(not EKATTE.exists(), reason="shared mirror not available")
def test_metadata_element_is_not_a_record():
    raw = json.loads((EKATTE / "ek_obl.json").read_text(encoding="utf-8"))
    records, meta = geography.read_ekatte(EKATTE / "ek_obl.json")
    assert len(records) == len(raw) - 1 == 28
    assert "Данните са актуални към" in meta and "oblast" in records.columns


def test_read_ekatte_refuses_a_file_without_metadata(tmp_path):
    bad = tmp_path / "ek_obl.json"
    bad.write_text(json.dumps([{"oblast": "VRC"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="metadata"):
        geography.read_ekatte(bad)


@pytest.mark.parametrize("text", ["гр. София", "София", "Sofia"])
def test_sofia_is_the_capital_district(text):
    r = geography.resolve_place(text).iloc[0]
    assert (r["ekatte"], r["municipality_name"], r["district"], r["nuts3"], r["nuts2"]) == \
        ("68134", "Столична", "SOF", "BG411", "BG41")
    assert r["district_name_latin"] == "Sofia (stolitsa)"


def test_village_with_district_qualifier():
    r = geography.resolve_place("с. Резбарци, Кърджали").iloc[0]
    assert (r["type"], r["name"], r["district"], r["nuts2"]) == ("с.", "Резбарци", "KRZ", "BG42")


def test_ambiguous_name_prefers_the_town_and_reports_candidates():
    r = geography.resolve_place("Габрово").iloc[0]  # a town and two villages carry the name
    assert r["n_candidates"] == 3 and not r["ambiguous"]
    assert (r["type"], r["district"], r["nuts3"]) == ("гр.", "GAB", "BG322")
    assert "prefer towns" in r["rule"]


def test_village_name_shared_by_several_villages_is_ambiguous():
    st = geography.settlements()
    counts = st[st["type"] == "с."].groupby("name").size()
    name = counts[counts > 3].index[0]
    if (st["name"] == name).sum() != counts[name]:
        pytest.skip("name also used by a town")
    r = geography.resolve_place(name).iloc[0]
    assert r["ambiguous"] and r["n_candidates"] == counts[name]
    assert r.isna()["ekatte"]


def test_unknown_place():
    r = geography.resolve_place("Srednogorie").iloc[0]
    assert r["n_candidates"] == 0 and r.isna()["nuts2"] and "no settlement" in r["rule"]


def test_resolve_many():
    frame = geography.resolve_place(["Пловдив", "Белене"])
    assert frame["district"].tolist() == ["PDV", "PVN"]


@pytest.mark.parametrize("seat,towns", [
    ("София + Габрово", ["София", "Габрово"]),
    ("София и Плевен", ["София", "Плевен"]),
    ("Велико Търново София", ["Велико Търново", "София"]),
    ("Бургас, Габрово", ["Бургас", "Габрово"]),
    ("София + регионални структури", ["София"]),
    ("с. Резбарци, Кърджали", ["с. Резбарци, Кърджали"]),
    ("Пловдив", ["Пловдив"]),
    ("", []),
    (None, []),
])
def test_split_seat(seat, towns):
    assert geography.split_seat(seat) == towns
