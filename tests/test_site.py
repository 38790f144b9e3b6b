"""The static results site, checked without a browser (tests/browser/ opens it in Chromium).

Built from a real run of the H8 notebook (fixture ``small_real_run``), with the figures both in
the flat layout (``figures/<figure>.*``) and in the per-run layout (``figures/<run>/<figure>.*``).
"""
from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pandas as pd
import pytest

from clusterstats import cli, site
from clusterstats.report import load_claims


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        if tag in ("script", "link") and (a.get("src") or a.get("href") or "").startswith("http"):
            raise AssertionError(f"page loads {a} from the network")


class _Table(HTMLParser):
    """The cells' text of the table with id="verdicts"."""

    def __init__(self):
        super().__init__()
        self.rows, self._in, self._cell = [], False, None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == "verdicts":
            self._in = True
        elif self._in and tag == "tr":
            self.rows.append([])
        elif self._in and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif self._in and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data + " ")


def _verdict_table(path: Path) -> pd.DataFrame:
    p = _Table()
    p.feed(path.read_text(encoding="utf-8"))
    return pd.DataFrame(p.rows[1:], columns=p.rows[0])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def check_site_links(root: Path) -> dict[str, int]:
    """Every local link and image of every page resolves (files exist, #anchors exist)."""
    pages = sorted(root.rglob("*.html"))
    parsed = {p: _parse(p) for p in pages}
    counts = {"pages": len(pages), "links": 0, "images": 0}
    for page, info in parsed.items():
        for ref in info.links + info.images:
            url = urlsplit(ref)
            if url.scheme in ("http", "https", "data") or url.scheme == "mailto":
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            assert target.is_file(), f"{page.relative_to(root)}: {ref} does not resolve"
            assert target.is_relative_to(root.resolve()), f"{ref} leaves the site folder"
            if url.fragment and target.suffix == ".html":
                ids = parsed[target].ids  # browsers match the fragment as written or decoded
                assert {url.fragment, unquote(url.fragment)} & ids, f"{page.name}: no #{url.fragment}"
        counts["links"] += len(info.links)
        counts["images"] += len(info.images)
    return counts


@pytest.fixture(scope="module")
def built(small_real_run, tmp_path_factory):
    home = small_real_run
    figures = tmp_path_factory.mktemp("figures")
    # both layouts: the run's own figures/<run name>/ folder, and a flat copy (older runs)
    shutil.copytree(home / "figures", figures, dirs_exist_ok=True)
    for f in (home / "figures" / "h8_cluster_size__n_boot-999").glob("h8_members*"):
        shutil.copy(f, figures / f.name)
    out = tmp_path_factory.mktemp("out") / "site"
    rc = cli.main(["site", "--output", str(out), "--figures", str(figures),
                   "--results", str(home / "results" / "hypotheses.csv"),
                   "--notebooks", str(home / "build" / "notebooks")])
    assert rc == 0
    return home, figures, out


def test_site_pages_and_links(built):
    home, figures, out = built
    for name in ("index.html", "results.html", "figures.html",
                 "notebooks/h8_cluster_size__n_boot-999.html"):
        assert (out / name).is_file(), name
    counts = check_site_links(out)
    assert counts["images"] >= 2 and counts["links"] > 10


def test_index_has_the_verdict_table_from_the_run(built):
    home, _, out = built
    results = pd.read_csv(home / "results" / "hypotheses.csv", dtype=str, keep_default_na=False)
    table = _verdict_table(out / "index.html")
    assert list(table.columns) == ["claim", "what the guide says", "what the data say", "verdict",
                                   "evidence"]
    assert len(table) == len(load_claims())
    c08 = table[table["claim"].str.startswith("C08")].iloc[0]
    expected = site.verdict_table(results, load_claims()).set_index("claim_id").loc["C08"]
    assert c08["verdict"] == expected["verdict"] and expected["n_rows"] == (results.claim_id == "C08").sum()
    assert expected["data_say"][0][:40] in c08["what the data say"]
    html = (out / "index.html").read_text()
    assert 'href="notebooks/h8_cluster_size__n_boot-999.html"' in html and 'href="results.html#C08"' in html


def test_gallery_finds_both_layouts_with_sources_parameters_and_citation(built):
    home, figures, out = built
    found = site.discover_figures(figures)
    runs = {(f.name, f.folder.as_posix(), f.run) for f in found}
    assert ("h8_members", ".", "h8_cluster_size__n_boot-999") in runs          # flat copy
    assert ("h8_members", "h8_cluster_size__n_boot-999", "h8_cluster_size__n_boot-999") in runs
    html = (out / "figures.html").read_text()
    prov = json.loads((figures / "h8_members.provenance.json").read_text())
    assert prov["sources"][0]["text"] in html
    assert "n_boot=999" in html and "Cite this figure" in html and "@misc{" in html
    assert html.count('<figure class="card"') == 2
    assert (out / "files" / "figures" / "h8_cluster_size__n_boot-999" / "h8_members.pdf").is_file()


def test_results_page_formats_numbers(built):
    home, _, out = built
    html = (out / "results.html").read_text()
    assert 'class="clusterstats-results"' in html and 'id="C08"' in html
    assert "0.30000000000000004" not in html  # no raw float noise from the CSV


def test_a_failed_build_keeps_the_previous_site(built, monkeypatch):
    home, figures, out = built
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(site, "_render_pages", boom)
    rc = cli.main(["site", "--output", str(out), "--figures", str(figures),
                   "--results", str(home / "results" / "hypotheses.csv"),
                   "--notebooks", str(home / "build" / "notebooks")])
    assert rc == 2
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".site.")]


def test_the_site_without_any_run_says_so(tmp_path):
    out = site.build_site(tmp_path / "site", figures=tmp_path / "nofig",
                          results=tmp_path / "none.csv", notebooks=tmp_path / "nonb")
    html = (out / "index.html").read_text()
    assert "No result rows yet" in html and "not yet tested" in html
    check_site_links(out)
