"""Headless Chromium for the browser tests (Debian's ``chromium`` package, driven by playwright).

Playwright's Python package brings only its driver; the browser is the system's
``/usr/bin/chromium`` (no browser download). Without it the tests skip with the reason, unless
``CLUSTERSTATS_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where a missing browser is a failure.
Screenshots go to ``build/test-artifacts/browser/`` (gitignored). Every request to a host other
than 127.0.0.1 is aborted and recorded: the tests use no network beyond loopback.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path(os.environ.get("CLUSTERSTATS_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("data", "file", "blob", "about")


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str):
    if os.environ.get("CLUSTERSTATS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and CLUSTERSTATS_REQUIRE_BROWSER=1 says the browser tests must run "
                    "(.ci/run installs it: apt-get install -y chromium chromium-driver)")
    pytest.skip(f"{reason}: install it with `apt-get install chromium chromium-driver` to run the "
                "browser tests")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium_context(tmp_path_factory):
    """One headless Chromium (fresh profile) for the session; yields a playwright context."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[test]')")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, accept_downloads=False)
        context.clusterstats_blocked = []
        context.route("**/*", lambda route: _only_loopback(route, context.clusterstats_blocked))
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def _only_loopback(route, blocked: list[str]) -> None:
    url = urlsplit(route.request.url)
    if url.scheme in LOCAL_SCHEMES or url.hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        blocked.append(route.request.url)
        route.abort()


@pytest.fixture
def page(chromium_context):
    """A new tab that records console errors and failed requests (``page.clusterstats_errors``)."""
    page = chromium_context.new_page()
    page.clusterstats_errors = []
    page.on("pageerror", lambda exc: page.clusterstats_errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: page.clusterstats_errors.append(
        f"request failed: {r.url} ({r.failure})"))
    yield page
    page.close()
