"""The results site in headless Chromium, opened from disk: every link resolves, every image loads.

The site is built from a real run of the H8 notebook (fixture ``small_real_run``); screenshots of
each page go to ``build/test-artifacts/browser/``.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from clusterstats import site

PAGES = ("index.html", "results.html", "figures.html")

LINKS_JS = """() => [...document.querySelectorAll('a[href]')].map(a => a.href)"""
IMAGES_JS = """() => [...document.images].map(i => ({src: i.src.slice(0, 120), complete: i.complete,
                                                      w: i.naturalWidth, h: i.naturalHeight}))"""


def _file_of(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def test_site_in_chromium(page, artifacts, small_real_run, tmp_path):
    home = small_real_run
    out = site.build_site(tmp_path / "site", figures=home / "figures",
                          results=home / "results" / "hypotheses.csv",
                          notebooks=home / "build" / "notebooks")
    to_visit = [(out / p).as_uri() for p in PAGES]
    seen, checked_links, images = set(), 0, 0
    while to_visit:
        url = to_visit.pop(0)
        doc = url.split("#")[0]
        if doc in seen:
            continue
        seen.add(doc)
        response = page.goto(doc, wait_until="load")
        assert response is None or response.ok, doc
        page.wait_for_function("() => [...document.images].every(i => i.complete)")
        for img in page.evaluate(IMAGES_JS):
            assert img["w"] > 0 and img["h"] > 0, f"{doc}: image {img['src']} did not load"
            images += 1
        for link in page.evaluate(LINKS_JS):
            parts = urlsplit(link)
            if parts.scheme in ("http", "https"):
                continue  # data sources' pages on Eurostat: not fetched (no network in tests)
            assert parts.scheme == "file", link
            target = _file_of(link)
            assert target.is_file(), f"{doc}: link {link} does not resolve"
            assert target.resolve().is_relative_to(out.resolve()), f"{link} leaves the site"
            checked_links += 1
            if parts.fragment:
                if target.as_uri() != doc:
                    page_html = target.read_text(encoding="utf-8")
                    assert (f'id="{parts.fragment}"' in page_html
                            or f'id="{unquote(parts.fragment)}"' in page_html), link
                else:
                    assert page.evaluate("f => !!(document.getElementById(f) || "
                                         "document.getElementById(decodeURIComponent(f)))",
                                         parts.fragment), link
            if target.suffix == ".html" and target.as_uri() not in seen:
                to_visit.append(target.as_uri())
        name = _file_of(doc).relative_to(out).as_posix().replace("/", "__")
        page.screenshot(path=str(artifacts / f"site__{name}.png"), full_page=True)
    assert not page.clusterstats_errors, page.clusterstats_errors
    assert {p for p in PAGES} <= {_file_of(u).name for u in seen}
    assert any("notebooks" in u for u in seen)  # the executed notebook's page was reached
    assert images >= 2 and checked_links > 10
