"""clusterstats.figures: house style, flag marking, and reproducible figure files with provenance.

Data used here is real: the land area of Bulgaria's NUTS 2 regions computed from the shipped GISCO
polygons, and Eurostat's rd_e_gerdtot (GERD, % of GDP, with its published flags) from the pinned
snapshot in data/eurostat/ (``clusterstats.snapshot.load_snapshot``).
"""
from __future__ import annotations

import json
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from clusterstats import figures as cf  # noqa: E402
from clusterstats import maps  # noqa: E402
from clusterstats.snapshot import load_snapshot  # noqa: E402



@pytest.fixture(autouse=True)
def _close_figures(monkeypatch):
    # Determinism must not lean on the environment: no SOURCE_DATE_EPOCH unless a test sets it.
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    with matplotlib.rc_context():
        yield
    plt.close("all")


@pytest.fixture(scope="module")
def areas() -> pd.DataFrame:
    """Area (km²) of the six NUTS 2 regions, from the GISCO polygons in EPSG:3035 (equal-area)."""
    g = maps.load_nuts(level=2, country="BG", year=2016).to_crs("EPSG:3035")
    return pd.DataFrame({"geo": g["NUTS_ID"], "name": g["NAME_LATN"],
                         "area_km2": (g.area / 1e6).round(1)})


@pytest.fixture(scope="module")
def gerd() -> pd.DataFrame:
    df = load_snapshot("rd_e_gerdtot")
    sel = df[(df["sectperf"] == "TOTAL") & (df["unit"] == "PC_GDP")
             & df["geo"].isin(["BG", "EU28"])].copy()
    sel["year"] = sel["time"].astype(str).astype(int)
    sel = sel[sel["year"] >= 1995]
    return sel[["geo", "year", "value", "flag"]].astype({"geo": str, "flag": object}).reset_index(drop=True)


SOURCES = [{"publisher": "Eurostat GISCO", "dataset": "NUTS 2016 RG 1:1M", "vintage": "2020-12-27"}]


def _bar_figure(data: pd.DataFrame, width="single"):
    fig, ax = cf.new_figure(width)
    ax.bar(data["geo"], data["area_km2"])
    cf.set_ylabel(ax, "Area", "km²")
    ax.set_xlabel("NUTS 2 region")
    cf.add_source_note(fig, "Source: area of the GISCO NUTS 2016 polygons in EPSG:3035.")
    return fig


def _save(tmp_path, data, sub="a", **kw):
    fig = _bar_figure(data)
    kw.setdefault("vintage", "2020-12-27")
    return cf.save_figure(fig, "areas", data=data, sources=SOURCES, params={"level": 2},
                          notebook="notebooks/00_demo.ipynb", folder=tmp_path / sub, **kw)


# ----------------------------------------------------------------------------- style

@pytest.mark.parametrize("width, mm", [("single", 85.0), ("double", 175.0), (120, 120.0)])
def test_new_figure_has_the_printed_width(width, mm):
    fig, _ = cf.new_figure(width)
    assert fig.get_figwidth() * 25.4 == pytest.approx(mm)


def test_new_figure_rejects_unknown_width():
    with pytest.raises(ValueError, match="single"):
        cf.new_figure("triple")


@pytest.mark.parametrize("unit", ["", "   ", None])
def test_axis_labels_refuse_an_empty_unit(unit):
    _, ax = cf.new_figure()
    with pytest.raises(ValueError, match="unit"):
        cf.set_ylabel(ax, "GERD", unit)


def test_axis_label_format():
    assert cf.axis_label("GERD", "% of GDP") == "GERD (% of GDP)"


def test_all_text_is_at_least_7pt(areas):
    fig = _bar_figure(areas)
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text()]
    assert sizes and min(sizes) >= 7.0


def test_palette_is_okabe_ito():
    fig, ax = cf.new_figure()
    cycle = [c["color"].upper() for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == ["#0072B2", "#D55E00", "#009E73"]
    assert set(cycle) == {c.upper() for c in cf.OKABE_ITO.values()}


def test_source_note_does_not_overlap_the_axes(areas):
    fig = _bar_figure(areas)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    note = fig._clusterstats_source_note.get_window_extent(renderer)
    axes = fig.axes[0].get_tightbbox(renderer)  # includes tick labels and axis labels
    assert note.y1 <= axes.y0 + 0.5


def test_long_source_note_wraps_inside_the_figure(areas):
    fig = _bar_figure(areas)
    cf.add_source_note(fig, "Source: " + "Eurostat rd_e_gerdtot, vintage 2022-03-15; " * 6)
    fig.canvas.draw()
    note = fig._clusterstats_source_note.get_window_extent(fig.canvas.get_renderer())
    assert note.x1 <= fig.bbox.x1 and "\n" in fig._clusterstats_source_note.get_text()


# ----------------------------------------------------------------------------- flags

@pytest.mark.parametrize("raw, expected", [("p", "p"), ("bp", "bp"), ("p b", "bp"), (" e ", "e"),
                                           (None, ""), (float("nan"), ""), (pd.NA, ""), (":", ""),
                                           ("", "")])
def test_parse_flags(raw, expected):
    assert cf.parse_flags(raw) == expected


@pytest.mark.parametrize("raw, expected", [("@C", "c"), (": @C", "c"), ("@F", ""), ("p @D", "cp")])
def test_parse_flags_reads_sdmx_confidentiality_status(raw, expected):
    assert cf.parse_flags(raw) == expected


def test_parse_flags_rejects_unknown_letters():
    with pytest.raises(ValueError, match="unknown Eurostat flag"):
        cf.parse_flags("px")


def test_flagged_values_are_marked_and_explained(gerd):
    fig, ax = cf.new_figure("single")
    bg = gerd[gerd["geo"] == "BG"]
    eu = gerd[gerd["geo"] == "EU28"]
    a_bg = cf.plot_series_with_flags(ax, bg, "year", "value", "flag", label="Bulgaria")
    a_eu = cf.plot_series_with_flags(ax, eu, "year", "value", "flag", label="EU-28")
    # Independent count from the data: EU28 has e (2000-2002) and p (2016); BG breaks 1996, 1999.
    n_qual_eu = eu["flag"].fillna("").str.contains("[ep]").sum()
    n_break_bg = bg["flag"].fillna("").str.contains("b").sum()
    assert n_qual_eu == 4 and n_break_bg == 2
    assert len(a_eu["markers"]["qualified"].get_xdata()) == n_qual_eu
    assert a_eu["markers"]["qualified"].get_markerfacecolor() == "white"
    assert len(a_bg["markers"]["break"].get_xdata()) == n_break_bg
    assert a_bg["markers"]["break"].get_marker() == "|"
    assert len(a_bg["breaks"]) == n_break_bg  # dotted segments across the breaks
    assert all(seg.get_linestyle() == ":" for seg in a_bg["breaks"])
    assert len(a_bg["lines"]) == n_break_bg + 1  # solid runs between breaks
    key = sorted(t.get_text() for t in a_eu["flag_legend"].get_texts())
    assert key == ["b: break in time series", "e: estimated", "p: provisional"]
    series = [t.get_text() for t in a_eu["legend"].get_texts()]
    assert series == ["Bulgaria", "EU-28"]
    letters = sorted(t.get_text() for t in a_bg["annotations"] + a_eu["annotations"])
    assert letters == ["b", "b", "e", "e", "e", "p"]


def test_flag_key_sits_below_the_axes(gerd):
    fig, ax = cf.new_figure("single")
    arts = cf.plot_series_with_flags(ax, gerd[gerd["geo"] == "EU28"], "year", "value", "flag")
    cf.add_source_note(fig, "Source: Eurostat rd_e_gerdtot.")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    key = arts["flag_legend"].get_window_extent(r)
    note = fig._clusterstats_source_note.get_window_extent(r)
    axes = ax.get_tightbbox(r)
    assert note.y1 <= key.y0 + 0.5 and key.y1 <= axes.y0 + 0.5


def test_plot_series_refuses_two_series_at_once(gerd):
    fig, ax = cf.new_figure()
    with pytest.raises(ValueError, match="one series per call"):
        cf.plot_series_with_flags(ax, gerd, "year", "value", "flag")  # BG and EU28 together


def test_plot_series_names_bad_flag_row():
    fig, ax = cf.new_figure()
    df = pd.DataFrame({"year": [2015, 2016], "value": [1.0, 2.0], "flag": ["p", "q"]})
    with pytest.raises(ValueError, match=r"row 1 \(year=2016\): unknown Eurostat flag"):
        cf.plot_series_with_flags(ax, df, "year", "value", "flag")


# ----------------------------------------------------------------------------- save_figure

def test_save_figure_writes_the_set_and_the_plotted_data(tmp_path, areas):
    paths = _save(tmp_path, areas)
    assert set(paths) == {"pdf", "svg", "png", "csv", "provenance"}
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
    back = pd.read_csv(paths["csv"])
    pd.testing.assert_frame_equal(back, areas.reset_index(drop=True), check_dtype=False)
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    assert b"/FontFile2" in paths["pdf"].read_bytes()  # TrueType embedded (pdf.fonttype 42)
    assert b"<text" not in paths["svg"].read_bytes()  # glyphs as paths (svg.fonttype "path")
    with Image.open(paths["png"]) as im:
        assert round(im.info["dpi"][0]) == 300


def test_same_inputs_give_byte_identical_files(tmp_path, areas, monkeypatch):
    # The sidecar records the checkout (commit, "-dirty"), which other work can change between
    # two saves; pin it so the test compares like with like. Figure files never depend on it.
    monkeypatch.setattr(cf, "git_commit", lambda: "0" * 40)
    a = _save(tmp_path, areas, "a")
    b = _save(tmp_path, areas, "b")
    for fmt in ("pdf", "svg", "png", "csv", "provenance"):
        assert a[fmt].read_bytes() == b[fmt].read_bytes(), fmt


def test_the_commit_is_embedded_and_same_commit_gives_same_bytes(tmp_path, areas, monkeypatch):
    """A figure copied out of the repository still names the code that made it (issue 15)."""
    monkeypatch.setattr(cf, "git_commit", lambda: "1" * 40)
    a = _save(tmp_path, areas, "a")
    a2 = _save(tmp_path, areas, "a2")
    monkeypatch.setattr(cf, "git_commit", lambda: "2" * 40 + "-dirty")
    b = _save(tmp_path, areas, "b")
    for fmt in ("pdf", "svg", "png"):
        assert a[fmt].read_bytes() == a2[fmt].read_bytes(), fmt
        assert a[fmt].read_bytes() != b[fmt].read_bytes(), fmt
        emb_a, emb_b = cf.read_embedded_provenance(a[fmt]), cf.read_embedded_provenance(b[fmt])
        assert (emb_a["embedded_git_commit"], emb_a["git_dirty"]) == ("1" * 40, False)
        assert (emb_b["embedded_git_commit"], emb_b["git_dirty"]) == ("2" * 40 + "-dirty", True)
        assert emb_a["data_sha256"] == emb_b["data_sha256"]  # the plotted data did not change
    assert json.loads(a["provenance"].read_text())["git_commit"] == "1" * 40


def test_different_data_give_different_files(tmp_path, areas):
    a = _save(tmp_path, areas, "a")
    b = _save(tmp_path, areas.iloc[:-1], "b")  # one region fewer
    for fmt in ("pdf", "svg", "png", "csv"):
        assert a[fmt].read_bytes() != b[fmt].read_bytes(), fmt


def test_same_picture_different_data_still_differs(tmp_path, areas):
    """The data hash is embedded, so the files tell two datasets apart even if the plot matches."""
    fig_a, fig_b = _bar_figure(areas), _bar_figure(areas)
    extra = areas.assign(note="x")  # same plotted numbers, another column in the data
    a = cf.save_figure(fig_a, "f", data=areas, sources=SOURCES, folder=tmp_path / "a")
    b = cf.save_figure(fig_b, "f", data=extra, sources=SOURCES, folder=tmp_path / "b")
    assert a["pdf"].read_bytes() != b["pdf"].read_bytes()


def test_provenance_is_embedded_in_pdf_png_and_svg(tmp_path, areas):
    paths = _save(tmp_path, areas, input_files=[maps._gisco_dir() / "SHA256SUMS"])
    sidecar = json.loads(paths["provenance"].read_text())
    raw_pdf = paths["pdf"].read_bytes()
    assert b"/ClusterstatsProvenance (" in raw_pdf
    assert b"/Keywords (NUTS 2016 RG 1:1M)" in raw_pdf
    assert b"/CreationDate (D:20201227000000Z)" in raw_pdf  # from the vintage, not the clock
    assert b"/ModDate" not in raw_pdf
    with Image.open(paths["png"]) as im:
        text = im.text
    assert json.loads(text["clusterstats:provenance"])["data_sha256"] == sidecar["data_sha256"]
    assert "2020-12-27" in paths["svg"].read_text()
    for fmt in ("pdf", "png", "svg"):
        emb = cf.read_embedded_provenance(paths[fmt])
        assert emb["sources"] == SOURCES
        assert emb["params"] == {"level": 2}
        assert emb["notebook"] == "notebooks/00_demo.ipynb"
        assert emb["data_sha256"] == sidecar["data_sha256"]
        assert emb["input_files"][0]["file"] == "data/gisco/SHA256SUMS"
        assert "git_commit" not in emb and "embedded_git_commit" in emb and "git_dirty" in emb
    assert "git_commit" in sidecar and "dependency_versions" in sidecar
    from clusterstats.provenance import sha256_file
    assert sidecar["files_sha256"] == {p.name: sha256_file(p) for k, p in paths.items()
                                       if k != "provenance"}
    assert not re.search(r'"/(work|home|tmp|Users)/', paths["provenance"].read_text())


def test_no_vintage_means_no_date_rather_than_the_clock(tmp_path, areas):
    fig = _bar_figure(areas)
    paths = cf.save_figure(fig, "f", data=areas, sources=["GISCO NUTS 2016"], vintage="latest",
                           folder=tmp_path)
    raw = paths["pdf"].read_bytes()
    assert b"/CreationDate" not in raw
    assert "<dc:date>" not in paths["svg"].read_text()


def test_source_date_epoch_is_honoured_without_a_vintage(tmp_path, areas, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1577836800")  # 2020-01-01T00:00:00Z
    paths = cf.save_figure(_bar_figure(areas), "f", data=areas, sources=["GISCO NUTS 2016"],
                           folder=tmp_path)
    assert b"/CreationDate (D:20200101000000Z)" in paths["pdf"].read_bytes()


@pytest.mark.parametrize("vintage, iso", [("2022-03-15", "2022-03-15"), ("15/03/22", "2022-03-15"),
                                          ("15.03.2022", "2022-03-15"), ("LAST UPDATE 15/03/22",
                                                                         "2022-03-15"),
                                          ("2018", "2018-01-01"), ("latest", None), (None, None)])
def test_vintage_date(vintage, iso):
    d = cf.vintage_date(vintage)
    assert (d.date().isoformat() if d else None) == iso


def test_a_failure_while_rendering_leaves_no_partial_set(tmp_path, areas):
    old = _save(tmp_path, areas, "out")
    before = {k: p.read_bytes() for k, p in old.items()}
    fig = _bar_figure(areas.iloc[:-1])
    real = fig.savefig

    def broken(buf, format=None, **kw):
        if format == "svg":
            raise RuntimeError("disk full (simulated)")
        return real(buf, format=format, **kw)

    fig.savefig = broken
    with pytest.raises(RuntimeError, match="simulated"):
        cf.save_figure(fig, "areas", data=areas.iloc[:-1], sources=SOURCES, folder=tmp_path / "out")
    assert {k: p.read_bytes() for k, p in old.items()} == before  # old set intact
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in old.values())


def test_fresh_failure_writes_nothing(tmp_path, areas):
    fig = _bar_figure(areas)
    with pytest.raises(TypeError, match="DataFrame"):
        cf.save_figure(fig, "areas", data=areas.to_dict(), sources=SOURCES, folder=tmp_path / "x")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "with space"])
def test_bad_figure_names_are_refused(tmp_path, areas, name):
    with pytest.raises(ValueError, match="file stem"):
        cf.save_figure(_bar_figure(areas), name, data=areas, sources=SOURCES, folder=tmp_path)


def test_unserialisable_params_are_refused_before_writing(tmp_path, areas):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        cf.save_figure(_bar_figure(areas), "f", data=areas, sources=SOURCES,
                       params={"model": object()}, folder=tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_sources_are_required(tmp_path, areas):
    with pytest.raises(ValueError, match="source"):
        cf.save_figure(_bar_figure(areas), "f", data=areas, sources=[], folder=tmp_path)


def test_missing_source_note_is_added_from_sources(tmp_path, areas):
    fig, ax = cf.new_figure()
    ax.bar(areas["geo"], areas["area_km2"])
    cf.save_figure(fig, "f", data=areas, sources=SOURCES, folder=tmp_path)
    assert " ".join(fig._clusterstats_source_note.get_text().split()) == \
        "Source: Eurostat GISCO NUTS 2016 RG 1:1M, vintage 2020-12-27."


def test_named_index_is_kept_in_the_csv(tmp_path, areas):
    data = areas.set_index("geo")
    paths = cf.save_figure(_bar_figure(areas), "f", data=data, sources=SOURCES, folder=tmp_path)
    assert pd.read_csv(paths["csv"]).columns[0] == "geo"


# ----------------------------------------------------------------------------- across processes

_SCRIPT = """
import sys
import pandas as pd
from clusterstats import figures as cf
data = pd.read_csv(sys.argv[2])
fig, ax = cf.new_figure("single")
ax.bar(data["geo"], data["area_km2"])
cf.set_ylabel(ax, "Area", "km²")
cf.save_figure(fig, "areas", data=data, sources=["GISCO NUTS 2016"], vintage="2020-12-27",
               folder=sys.argv[1])
"""


@pytest.mark.slow
def test_byte_identical_across_processes_and_hash_seeds(tmp_path, areas):
    """Two fresh interpreters with different hash seeds write the same figure bytes."""
    import os
    import subprocess
    import sys

    src = tmp_path / "areas_input.csv"
    areas[["geo", "area_km2"]].to_csv(src, index=False)
    out = {}
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, MPLBACKEND="Agg")
        env.pop("SOURCE_DATE_EPOCH", None)
        folder = tmp_path / seed
        subprocess.run([sys.executable, "-c", _SCRIPT, str(folder), str(src)], check=True, env=env,
                       timeout=120)
        out[seed] = {fmt: (folder / f"areas.{fmt}").read_bytes() for fmt in ("pdf", "svg", "png", "csv")}
    for fmt in ("pdf", "svg", "png", "csv"):
        assert out["1"][fmt] == out["2"][fmt], fmt


# ----------------------------------------------------------------------------- verify / CLI

def test_verify_figure_detects_a_changed_csv(tmp_path, areas, capsys):
    import argparse

    paths = _save(tmp_path, areas)
    assert cf.verify_figure(paths["pdf"])[["embedded", "csv_matches", "sidecar_matches"]].all(axis=None)
    parser = argparse.ArgumentParser()
    cf.add_cli(parser.add_subparsers())
    args = parser.parse_args(["figure-info", "--verify", str(paths["svg"])])
    assert args.func(args) == 0
    paths["csv"].write_text(paths["csv"].read_text().replace("BG31", "BG3X"))
    report = cf.verify_figure(paths["png"])
    assert not report["csv_matches"].any() and report["sidecar_matches"].all()
    assert args.func(args) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_house_style_context_restores_settings():
    before = matplotlib.rcParams["font.size"]
    with cf.house_style():
        assert matplotlib.rcParams["font.size"] == cf.BASE_FONT_PT
        assert matplotlib.rcParams["pdf.fonttype"] == 42
    assert matplotlib.rcParams["font.size"] == before


def test_multi_panel_figure_heights():
    fig, axes = cf.new_figure("double", nrows=2, ncols=2)
    assert axes.shape == (2, 2)
    # two rows of panels 87.5 mm wide at about the golden ratio, plus the footer allowance
    assert fig.get_figheight() * 25.4 == pytest.approx(2 * 0.62 * 87.5 + 12.0)


def test_a_failure_while_writing_leaves_the_old_set_and_no_temp_files(tmp_path, areas, monkeypatch):
    old = _save(tmp_path, areas, "out")
    before = {k: p.read_bytes() for k, p in old.items()}
    real = cf._stage

    def disk_full_at_png(path, blob):
        if path.suffix == ".png":
            raise OSError(28, "No space left on device (simulated)")
        return real(path, blob)

    monkeypatch.setattr(cf, "_stage", disk_full_at_png)
    with pytest.raises(OSError, match="simulated"):
        _save(tmp_path, areas.iloc[:-1], "out")
    assert {k: p.read_bytes() for k, p in old.items()} == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in old.values())
