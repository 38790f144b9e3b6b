"""clusterstats.maps: shipped GISCO geometries and choropleths of Bulgaria.

Values mapped here are real: the area of each region computed from the GISCO polygons, and the
GERD intensity by NUTS 2 region from Eurostat tgs00042 in the pinned snapshot (data/eurostat/).
Maps of other countries need the shared mirror's European geometries (skipped if absent).
"""
from __future__ import annotations

import shutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from pyproj import CRS, Transformer  # noqa: E402

from clusterstats import figures as cf  # noqa: E402
from clusterstats import maps  # noqa: E402
from clusterstats._paths import mirror_dir  # noqa: E402
from clusterstats.snapshot import load_snapshot  # noqa: E402

BG_NUTS2 = ["BG31", "BG32", "BG33", "BG34", "BG41", "BG42"]


@pytest.fixture(autouse=True)
def _close():
    with matplotlib.rc_context():
        yield
    plt.close("all")


@pytest.fixture(scope="module")
def nuts2():
    return maps.load_nuts(level=2, country="BG", year=2016)


def _areas(gdf) -> pd.DataFrame:
    g = gdf.to_crs("EPSG:3035")
    return pd.DataFrame({"geo": g["NUTS_ID"], "value": g.area / 1e6})


# ----------------------------------------------------------------------------- load_nuts

def test_bulgaria_nuts2_has_its_six_regions(nuts2):
    assert nuts2["NUTS_ID"].tolist() == BG_NUTS2
    assert nuts2.crs.to_epsg() == 4326
    assert set(nuts2["NAME_LATN"]) >= {"Yugozapaden", "Severozapaden"}
    src = maps.gisco_source(nuts2)
    assert src["file"] == "data/gisco/NUTS_RG_01M_2016_4326_LEVL_2_BG.geojson"
    assert len(src["sha256"]) == 64 and src["nuts_year"] == 2016


def test_bulgaria_districts_2021():
    g = maps.load_nuts(level=3, country="BG", year=2021)
    assert len(g) == 28 and g["NUTS_ID"].str.match(r"^BG[34]\d\d$").all()
    # every district lies in one of the six NUTS 2 regions named by its first four characters
    assert set(g["NUTS_ID"].str[:4]) == set(BG_NUTS2)


def test_nuts2_regions_tile_the_country():
    """Independent check of the shipped files: the six regions' union is the level-0 outline."""
    l0 = maps.load_nuts(level=0, year=2016).to_crs("EPSG:3035")
    l2 = maps.load_nuts(level=2, year=2016).to_crs("EPSG:3035")
    assert l2.area.sum() == pytest.approx(l0.area.sum(), rel=1e-3)


def test_2016_level3_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="year=2021"):
        maps.load_nuts(level=3, year=2016)


def test_checksum_mismatch_is_caught(tmp_path, monkeypatch, nuts2):
    data = tmp_path / "data"
    shutil.copytree(maps._gisco_dir(), data / "gisco")
    target = data / "gisco" / "NUTS_RG_01M_2016_4326_LEVL_2_BG.geojson"
    target.write_bytes(target.read_bytes().replace(b"Yugozapaden", b"Yugozapaden "))
    monkeypatch.setenv("CLUSTERSTATS_DATA", str(data))
    with pytest.raises(ValueError, match="NUTS_RG_01M_2016_4326_LEVL_2_BG.geojson: sha256"):
        maps.load_nuts(level=2)


def test_other_country_without_mirror_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("CLUSTERSTATS_SHARED", str(tmp_path))
    # the 2016 1:1M European files do not ship (3.5 MB): without the mirror, say which file is missing
    with pytest.raises(FileNotFoundError, match="NUTS_RG_01M_2016_4326_LEVL_2.geojson.gz"):
        maps.load_nuts(level=2, country="RO", year=2016)


@pytest.mark.skipif(not (mirror_dir() / "gisco/nuts/2016").is_dir(), reason="shared mirror not present")
def test_other_country_from_the_mirror():
    ro = maps.load_nuts(level=2, country="RO", year=2016)
    assert len(ro) == 8 and ro["NUTS_ID"].str.startswith("RO").all()
    assert maps.gisco_source(ro)["file"] == "mirror/gisco/nuts/2016/NUTS_RG_01M_2016_4326_LEVL_2.geojson.gz"
    with pytest.raises(ValueError, match="'EL'"):
        maps.load_nuts(level=2, country="GR", year=2021)


# ----------------------------------------------------------------------------- projection

def test_auto_projection_is_equal_area_and_north_up(nuts2):
    crs = maps.map_crs(nuts2)
    assert CRS(crs).coordinate_operation.method_name == "Lambert Azimuthal Equal Area"
    # equal-area: the same areas as EPSG:3035 (an independent equal-area projection)
    a_auto = nuts2.to_crs(crs).area
    a_3035 = nuts2.to_crs("EPSG:3035").area
    np.testing.assert_allclose(a_auto, a_3035, rtol=1e-4)
    # north-up at the map's centre: the central meridian is vertical, while EPSG:3035 leans there
    lon0 = next(p.value for p in CRS(crs).coordinate_operation.params
                if p.name == "Longitude of natural origin")
    for target, vertical in ((crs, True), ("EPSG:3035", False)):
        t = Transformer.from_crs("EPSG:4326", target, always_xy=True)
        (x1, x2), (y1, y2) = t.transform([lon0, lon0], [41.5, 44.0])
        lean = np.degrees(np.arctan2(abs(x2 - x1), abs(y2 - y1)))
        assert (lean < 0.01) if vertical else (lean > 5), (target, lean)


# ----------------------------------------------------------------------------- choropleth

def test_choropleth_renders_bulgaria_nuts2_with_unit_on_colour_bar(tmp_path, nuts2):
    fig, ax = maps.new_map_figure(nuts2, "single")
    m = maps.choropleth(ax, nuts2, _areas(nuts2), unit="km²", label="Area",
                        source="Area of the GISCO polygons in EPSG:3035")
    assert m.colorbar.ax.get_xlabel() == "Area (km²)"
    assert m.data["geo"].tolist() == BG_NUTS2 and m.data["value"].notna().all()
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "clusterstats-region-label"]
    assert len(labels) == 6 and "Yugozapaden" in labels
    # six filled regions (some regions are multipolygons, so count paths per region collection)
    assert sum(len(c.get_paths()) >= 6 for c in ax.collections) >= 1
    note = fig._clusterstats_source_note.get_text().replace("\n", " ")
    assert "EuroGeographics" in note and "GISCO NUTS 2016" in note
    paths = cf.save_figure(fig, "bg_area", data=m.data, sources=[maps.gisco_source(nuts2)],
                           folder=tmp_path)
    assert pd.read_csv(paths["csv"])["geo"].tolist() == BG_NUTS2


def test_missing_regions_are_hatched_and_explained(nuts2):
    fig, ax = maps.new_map_figure(nuts2, "single")
    vals = _areas(nuts2).iloc[1:]  # BG31 left out
    m = maps.choropleth(ax, nuts2, vals, unit="km²", label="Area", source="GISCO polygons")
    assert m.data.loc[m.data["geo"] == "BG31", "value"].isna().all()
    hatched = [c for c in ax.collections if c.get_hatch()]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) >= 1
    legend = m.colorbar.ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["No data"]
    assert legend.legend_handles[0].get_hatch() == hatched[0].get_hatch()


def test_choropleth_colours_follow_the_values(nuts2):
    fig, ax = maps.new_map_figure(nuts2, "single")
    vals = _areas(nuts2)
    m = maps.choropleth(ax, nuts2, vals, unit="km²", source="GISCO polygons")
    assert m.norm.vmin == pytest.approx(vals["value"].min())
    assert m.norm.vmax == pytest.approx(vals["value"].max())


def test_choropleth_needs_a_unit_and_a_source(nuts2):
    fig, ax = maps.new_map_figure(nuts2)
    with pytest.raises(ValueError, match="unit"):
        maps.choropleth(ax, nuts2, _areas(nuts2), unit="", source="x")
    with pytest.raises(ValueError, match="source"):
        maps.choropleth(ax, nuts2, _areas(nuts2), unit="km²", source=" ")


def test_unknown_and_repeated_keys_name_the_rows(nuts2):
    fig, ax = maps.new_map_figure(nuts2)
    vals = pd.concat([_areas(nuts2), pd.DataFrame({"geo": ["BG"], "value": [1.0]})],
                     ignore_index=True)
    with pytest.raises(ValueError, match=r"rows \[6\]: geo \['BG'\] are not regions"):
        maps.choropleth(ax, nuts2, vals, unit="km²", source="x")
    twice = pd.concat([_areas(nuts2), _areas(nuts2).iloc[:1]], ignore_index=True)
    with pytest.raises(ValueError, match=r"several rows per region for \['BG31'\] \(rows \[0, 6\]\)"):
        maps.choropleth(ax, nuts2, twice, unit="km²", source="x")
    text = _areas(nuts2).astype({"value": object})
    text.loc[2, "value"] = "n.a."
    with pytest.raises(ValueError, match=r"rows \[2\]: value is not a number"):
        maps.choropleth(ax, nuts2, text, unit="km²", source="x")


def test_district_codes_only_where_they_fit():
    g = maps.load_nuts(level=3, year=2021)
    vals = _areas(g)
    for width, expected in (("single", 0), ("double", 28)):
        fig, ax = maps.new_map_figure(g, width)
        maps.choropleth(ax, g, vals, unit="km²", source="GISCO polygons")
        n = sum(t.get_gid() == "clusterstats-region-label" for t in ax.texts)
        assert n == expected, width


def test_gerd_map_from_eurostat_with_flags():
    d = load_snapshot("tgs00042")
    geo = d["geo"].astype(str)
    v = d[geo.isin(BG_NUTS2) & (d["time"].astype(str) == "2023")][["geo", "value", "flag"]]
    v = v.astype({"geo": str, "flag": object})
    assert len(v) == 6
    nuts2 = maps.load_nuts(2)
    fig, ax = maps.new_map_figure(nuts2, "double")
    m = maps.choropleth(ax, nuts2, v, unit="% of GDP", label="GERD", flag="flag",
                        labels="name+value", source="Source: Eurostat tgs00042")
    # Yugozapaden (Sofia) has the highest R&D intensity of the six in 2023 (as published)
    top = m.data.sort_values("value").iloc[-1]
    assert top["geo"] == "BG41"
    assert any(t.get_text().endswith(f"{top['value']:.2f}") for t in ax.texts)


def test_map_files_are_byte_identical(tmp_path, nuts2):
    out = {}
    for sub in ("a", "b"):
        fig, ax = maps.new_map_figure(nuts2, "single")
        vals = _areas(nuts2).iloc[1:]
        m = maps.choropleth(ax, nuts2, vals, unit="km²", source="GISCO polygons")
        out[sub] = cf.save_figure(fig, "m", data=m.data, sources=[maps.gisco_source(nuts2)],
                                  vintage="2020-12-27", folder=tmp_path / sub)
    for fmt in ("pdf", "svg", "png"):
        assert out["a"][fmt].read_bytes() == out["b"][fmt].read_bytes(), fmt


@pytest.mark.skipif(not (mirror_dir() / "gisco/nuts/2021").is_dir(), reason="shared mirror not present")
def test_flags_on_a_map_are_printed_and_explained():
    """Denmark's five NUTS 2 regions are all flagged p (provisional) for 2019 in tgs00042."""
    d = load_snapshot("tgs00042")
    dk = maps.load_nuts(level=2, country="DK", year=2021)
    v = d[d["geo"].isin(dk["NUTS_ID"]) & (d["time"].astype(str) == "2019")]
    v = v[["geo", "value", "flag"]].astype({"geo": str, "flag": object})
    assert v["flag"].tolist() == ["p"] * 5
    fig, ax = maps.new_map_figure(dk, "single")
    m = maps.choropleth(ax, dk, v, unit="% of GDP", label="GERD", flag="flag", labels="value",
                        source="Source: Eurostat tgs00042")
    texts = [t.get_text() for t in ax.texts if t.get_gid() == "clusterstats-region-label"]
    assert len(texts) == 5 and all(t.endswith(" p") for t in texts)
    key = fig._clusterstats_flag_legend
    assert [t.get_text() for t in key.get_texts()] == ["p: provisional"]
    assert m.data["flag"].tolist() == ["p"] * 5


def test_all_missing_values_are_refused(nuts2):
    fig, ax = maps.new_map_figure(nuts2)
    vals = _areas(nuts2).assign(value=np.nan)
    with pytest.raises(ValueError, match="nothing to shade"):
        maps.choropleth(ax, nuts2, vals, unit="km²", source="x")


def test_vertical_colour_bar_carries_the_unit(nuts2):
    fig, ax = maps.new_map_figure(nuts2, "double")
    m = maps.choropleth(ax, nuts2, _areas(nuts2), unit="km²", label="Area", source="GISCO polygons",
                        orientation="vertical")
    assert m.colorbar.ax.get_ylabel() == "Area (km²)"


def test_nuts2_maps_of_other_countries_work_without_the_shared_mirror(monkeypatch, tmp_path):
    """A fresh clone with no ../shared can still map any country's NUTS 2 regions (2021 file ships)."""
    from clusterstats import maps

    monkeypatch.setenv("CLUSTERSTATS_SHARED", str(tmp_path / "no-shared"))
    ro = maps.load_nuts(level=2, country="RO", year=2021)
    assert len(ro) == 8 and set(ro["CNTR_CODE"]) == {"RO"}
    assert ro.attrs["gisco"]["file"].startswith("data/gisco/")
