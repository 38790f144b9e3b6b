"""Figures cite themselves: ``clusterstats figure-info FILE --cite`` on a file taken out of the repo.

The figure is made by a real ``save_figure`` call on the pinned snapshot (tgs00042 and
demo_r_pjanaggr3 as shipped in data/eurostat/), then copied alone into another folder, so the
citation can only come from the provenance embedded in the file.
"""
from __future__ import annotations

import shutil

import pytest

from clusterstats import cite, cli
from clusterstats import figures as cf
from clusterstats.snapshot import load_snapshot


@pytest.fixture(scope="module")
def figure_files(tmp_path_factory):
    gerd = load_snapshot("tgs00042")
    pop = load_snapshot("demo_r_pjanaggr3")
    bg = gerd[(gerd["geo"].astype(str).str.fullmatch(r"BG\d\d")) & (gerd["time"] == "2016")]
    plotted = bg[["geo", "value"]].reset_index(drop=True)
    fig, ax = cf.new_figure("single")
    ax.bar(plotted["geo"].astype(str), plotted["value"])
    cf.set_ylabel(ax, "GERD", "% of GDP")
    sources = [
        {"publisher": "Eurostat", "dataset": gerd.attrs["dataset"], "vintage": gerd.attrs["vintage"]},
        f"Eurostat {pop.attrs['name']} (vintage {pop.attrs['vintage']})",
    ]
    out = tmp_path_factory.mktemp("made")
    paths = cf.save_figure(fig, "gerd_bg_2016", data=plotted, sources=sources, folder=out,
                           title="GERD by NUTS 2 region, Bulgaria, 2016", params={"year": 2016})
    # taken out of the repository: only the figure files, in a folder of their own
    away = tmp_path_factory.mktemp("manuscript")
    copies = {fmt: shutil.copy(paths[fmt], away / paths[fmt].name) for fmt in ("png", "pdf", "svg")}
    return copies, gerd.attrs, pop.attrs


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
@pytest.mark.parametrize("style", ["apa", "bibtex"])
def test_cite_names_every_source_and_vintage(figure_files, capsys, fmt, style):
    copies, gerd, pop = figure_files
    assert cli.main(["figure-info", str(copies[fmt]), "--cite", style]) == 0
    text = capsys.readouterr().out
    for attrs in (gerd, pop):
        assert attrs["name"] in text and attrs["vintage"] in text
    assert "https://ec.europa.eu/eurostat/databrowser/view/tgs00042/default/table" in text
    assert "https://ec.europa.eu/eurostat/databrowser/view/demo_r_pjanaggr3/default/table" in text
    assert "GERD by NUTS 2 region, Bulgaria, 2016" in text
    assert cite.project_citation()["title"].split(":")[0] in text
    assert "0.1.0" in text and "year=2016" in text
    prov = cf.read_embedded_provenance(copies[fmt])
    if prov["embedded_git_commit"]:  # None only outside a git checkout
        assert prov["embedded_git_commit"] in text


def test_bibtex_is_one_misc_entry(figure_files, capsys):
    copies, *_ = figure_files
    assert cli.main(["figure-info", str(copies["png"]), "--cite", "bibtex"]) == 0
    text = capsys.readouterr().out.strip()
    assert text.startswith("@misc{clusterstats_gerd_bg_2016,") and text.endswith("}")
    assert text.count("{") == text.count("}")


def test_run_name_is_cited_when_recorded():
    prov = {"figure": "h8_members", "run": "h8_cluster_size__low-5", "sources": ["x"],
            "params": {"low": 5}}
    prov["sources"] = [{"text": "Good Practices Guide (2018), BSMEPA annex"}]
    text = cite.format_citation(prov, "apa", project={"title": "clusterstats", "authors": ["a"]})
    assert "run h8_cluster_size__low-5" in text and "low=5" in text


def test_a_file_without_provenance_is_a_clear_error(tmp_path, capsys):
    bogus = tmp_path / "plain.png"
    from PIL import Image

    Image.new("RGB", (4, 4)).save(bogus)
    assert cli.main(["figure-info", str(bogus), "--cite"]) == 2
    err = capsys.readouterr().err
    assert "plain.png" in err and "provenance" in err and len(err.strip().splitlines()) == 1


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="apa, bibtex"):
        cite.format_citation({"figure": "f"}, "mla", project={})


def test_eurostat_sources_get_their_data_browser_url():
    srcs = cf._normalise_sources([{"publisher": "Eurostat", "dataset": "rd_e_gerdtot"},
                                  "Eurostat nama_10r_2gdp_2026 (vintage 2026-02-08)",
                                  "Good Practices Guide (2018)",
                                  {"publisher": "Eurostat", "dataset": "x", "url": "https://e.x/"}])
    assert srcs[0]["url"].endswith("/view/rd_e_gerdtot/default/table")
    assert srcs[1]["url"].endswith("/view/nama_10r_2gdp/default/table")  # snapshot name -> code
    assert "url" not in srcs[2]
    assert srcs[3]["url"] == "https://e.x/"
    assert cf.source_note_text(srcs[1:2]) == "Source: Eurostat nama_10r_2gdp_2026 (vintage 2026-02-08)."


def test_doctest_example_in_module():
    import doctest

    assert doctest.testmod(cite, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
