"""The rendered book in headless Chromium: built from smoke-mode runs of every chapter in a
temporary folder, served on 127.0.0.1, without a repository URL (so without launch links), and
read with the network off: every page loads only from the site, logs no console error, and shows
its formulas typeset by MathJax. Screenshots of each chapter page go to ``_build/test-artifacts/``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urldefrag, urljoin
from urllib.request import urlopen

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from _browser import chrome, console_errors, foreign_requests, serve
from reprobook import chapters
from reprobook.book import REPOSITORY_ENV, numbered_pages, render, stage_sources

ARTIFACTS = chapters.repo_root() / "_build" / "test-artifacts"


def _smoke_run(root, ch):
    out = root / "book" / "runs" / ch.name
    try:  # a smoke run takes seconds; a stuck kernel fails the test here, not after the cell timeout
        proc = subprocess.run([sys.executable, "-m", "reprobook.cli", "run", ch.name, "-p", "smoke", "True",
                               "--out", str(out)], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{ch.name}: smoke run did not finish in 240 s: {str(e.stderr or '')[-1500:]}")
    assert proc.returncode == 0, f"{ch.name}: {proc.stderr[-1500:]}"


PAGE_BUDGET_KIB = 250  # HTML of one chapter page, figures and scripts apart


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory):
    root = stage_sources(tmp_path_factory.mktemp("book"))
    with ThreadPoolExecutor(2) as pool:  # two kernels at once on the 2-core machine
        list(pool.map(lambda ch: _smoke_run(root, ch), chapters.available().values()))
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(REPOSITORY_ENV, raising=False)
        return render(root=root, quiet=True)


@pytest.fixture(scope="module")
def site(html_dir):
    with serve(html_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    driver = chrome(offline=True)
    yield driver
    driver.quit()


def typeset(browser) -> bool | None:
    """Wait for MathJax to finish typesetting the page: True when done, None when MathJax never loaded."""
    browser.set_script_timeout(30)
    return browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        "  MathJax.startup.promise.then(() => done(true), () => done(false)); else done(null);")


def _toc_pages(browser, base):
    browser.get(base + "/index.html")  # a redirect to the landing page
    WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith("/book/intro.html"))
    links = WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "nav.bd-links a.reference.internal"))
    pages = [urldefrag(a.get_attribute("href"))[0] for a in links]
    return list(dict.fromkeys([browser.current_url.split("#")[0], *(p for p in pages if p)]))


def test_every_page_loads_clean_and_chapters_have_figures(site, browser):
    pages = _toc_pages(browser, site)
    chapter_pages = [p for p in pages if "/runs/" in p]
    assert len(chapter_pages) == len(chapters.available())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console_errors(browser)  # the log so far belongs to the table of contents' loading
    for page in pages:
        browser.get(page)
        assert browser.execute_script("return document.readyState") == "complete"
        assert "404" not in browser.title, page
        typeset(browser)
        assert not (errors := console_errors(browser)), f"{page}: console errors: {errors[:3]}"
        assert not (foreign := foreign_requests(browser)), f"{page}: fetched from outside the site: {foreign[:3]}"
        errors = browser.find_elements(By.CSS_SELECTOR, ".cell_output .output.traceback, .cell_output .output.error")
        assert not errors, f"{page}: an output cell holds an error: {errors[0].text[:300]}"
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Traceback (most recent call last)" not in body, page
        if page in chapter_pages:
            imgs = browser.find_elements(By.CSS_SELECTOR, "figure img, .cell_output img")
            assert imgs and all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in imgs), \
                f"{page}: no figure image rendered"
            browser.save_screenshot(str(ARTIFACTS / (page.rsplit("/", 1)[-1].replace(".html", "") + ".png")))


def test_figure_numbers_and_citations_resolve(site, browser):
    seen_fig = seen_cite = 0
    targets: dict[str, set[str]] = {}  # page URL -> anchors that links point to
    for page in _toc_pages(browser, site):
        browser.get(page)
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a.reference.internal'), a => [a.innerText, a.href])")
        for text, href in links:
            text = text.strip()
            url, anchor = urldefrag(href or "")
            if text.startswith("Fig."):
                assert re.fullmatch(r"Fig\. \d+(\.\d+)?", text), f"{page}: unresolved figure number {text!r}"
                seen_fig += 1
            elif url.endswith("bibliography.html") and anchor:
                seen_cite += 1
            else:
                continue
            targets.setdefault(url, set()).add(anchor)
    for url, anchors in targets.items():  # each target page is loaded once
        browser.get(url)
        ids = set(browser.execute_script("return Array.from(document.querySelectorAll('[id]'), e => e.id)"))
        assert anchors <= ids, f"link targets missing on {url}: {sorted(anchors - ids)[:5]}"
    assert seen_fig >= len(chapters.available()), "every chapter references at least one numbered figure"
    assert seen_cite >= 7, "the landing page cites the seven papers"


def test_figures_numbered_per_chapter_and_notebook_downloads(site, browser):
    numbered = numbered_pages(chapters.repo_root() / "book" / "_toc.yml")
    for ch in chapters.available().values():
        page = f"{site}/book/runs/{ch.name}/{ch.stem}.html"
        browser.get(page)
        captions = [e.text.strip() for e in browser.find_elements(By.CSS_SELECTOR, "figure .caption-number")]
        assert captions, f"{page}: no numbered figure"
        if f"book/runs/{ch.name}/{ch.stem}" in numbered:  # Fig. N.1, N.2, ... with N the chapter's number
            expected = [f"Fig. {ch.number}.{i}" for i in range(1, len(captions) + 1)]
            assert browser.find_element(By.CSS_SELECTOR, "h1 .section-number").text.strip() == f"{ch.number}."
        else:  # the unnumbered chapter 0 numbers them with its own number, apart from chapter 1's
            expected = [f"Fig. {ch.number}.{i}" for i in range(1, len(captions) + 1)]
        assert captions == expected, f"{page}: figure numbers {captions}"
        links = browser.find_elements(By.CSS_SELECTOR, "a.btn-download-source-button")
        hrefs = [a.get_attribute("href") for a in links]
        assert any(h.endswith(f"/{ch.stem}.ipynb") for h in hrefs), f"{page}: no .ipynb download in {hrefs}"
        with urlopen(next(h for h in hrefs if h.endswith(".ipynb"))) as r:
            assert json.load(r)["cells"], f"{page}: the downloaded notebook has no cells"
        assert "colab.research.google.com" not in browser.page_source, f"{page}: launch link without a repository"


def test_navigation_links_walk_the_whole_book(site, browser):
    pages = _toc_pages(browser, site)
    browser.get(pages[0])
    visited = [browser.current_url.split("#")[0]]
    for _ in range(len(pages) + 2):
        nxt = browser.find_elements(By.CSS_SELECTOR, "a.right-next")
        if not nxt:
            break
        browser.get(urljoin(browser.current_url, nxt[0].get_attribute("href")))
        visited.append(browser.current_url.split("#")[0])
    assert visited == pages, "the 'next' links visit the table of contents in order"


def test_formulas_typeset_without_network(site, browser):
    """MathJax comes from the site itself: with the network off every formula is MathJax output."""
    typeset_pages = 0
    for ch in chapters.available().values():
        page = f"{site}/book/runs/{ch.name}/{ch.stem}.html"
        browser.get(page)
        maths = len(browser.find_elements(By.CSS_SELECTOR, ".math"))
        if not maths:
            continue
        assert typeset(browser) is True, f"{page}: MathJax did not load"
        raw = browser.execute_script(
            "return Array.from(document.querySelectorAll('.math'))"
            ".filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))")
        assert not raw, f"{page}: formulas left as TeX source: {raw[:3]}"
        typeset_pages += 1
    assert typeset_pages >= len(chapters.available()) - 1, "the chapters state their method in formulas"


def test_chapter_pages_are_light(html_dir):
    """No chapter page carries widget state (progress bars, controls) or grows past the budget."""
    for ch in chapters.available().values():
        page = html_dir / "book" / "runs" / ch.name / f"{ch.stem}.html"
        text = page.read_text()
        kib = len(text.encode()) / 1024
        assert kib <= PAGE_BUDGET_KIB, f"{page.name}: {kib:.0f} KiB of HTML (budget {PAGE_BUDGET_KIB} KiB)"
        assert "widget-state+json" not in text and "widget-view+json" not in text, f"{page.name}: widget state"


def test_verdicts_are_styled_text_badges(site, browser):
    """Verdicts read as text in coloured boxes (the book's stylesheet), not as emoji a font may lack."""
    browser.get(f"{site}/book/scoreboard.html")
    badges = browser.find_elements(By.CSS_SELECTOR, "strong.verdict")
    assert badges, "the scoreboard shows its verdicts as badges"
    for b in badges[:5]:
        assert b.text.strip() in ("holds", "does not hold", "inconclusive")
        background = browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor", b)
        assert background not in ("rgba(0, 0, 0, 0)", "transparent"), f"badge {b.text!r} is not styled"
