"""Sphinx extension of the book: its stylesheet, and each page loads every script and stylesheet once.

``static/reprobook.css`` styles the verdict badges of the claims tables and gives figure captions
the body text's contrast. The bibliography is labelled author–year like the citations
(:mod:`reprobook.bibstyle`), and a chapter page outside the numbered part (chapter 0) numbers its
figures with its chapter number too (``Fig. 0.1``), so they are not read as chapter 1's.

Extensions that register an asset after the HTML builder has started (``sphinx-thebe``'s inline
configuration ``const THEBE_JS_URL = ...``, ``sphinx-togglebutton``'s selector) reach the page twice,
once from the builder and once from the extension registry. A script that declares a ``const`` then
throws ``Identifier 'THEBE_JS_URL' has already been declared`` on every page; this extension keeps
the first copy of each asset, in page order.

It also gives the theme a valid colour mode: with none set, the theme's script logs
``Got invalid theme mode`` as an error on a reader's first visit; ``auto`` follows the reader's
system setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"  # reprobook.css: verdict badges, caption contrast


def _asset_key(asset: Any) -> tuple:
    attributes = getattr(asset, "attributes", {}) or {}
    return (getattr(asset, "filename", str(asset)) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))


def unique_assets(assets: list) -> list:
    """``assets`` without repeats (same file or inline body, same attributes), first copies kept.

    An inline script has no file: Sphinx names it None or "" depending on how it was added.
    """
    seen, kept = set(), []
    for asset in assets:
        key = _asset_key(asset)
        if key not in seen:
            seen.add(key)
            kept.append(asset)
    return kept


def _page_context(app, pagename, templatename, context, doctree) -> None:
    if not context.get("default_mode"):  # the theme's layout reads it from the page context
        context["default_mode"] = "auto"
    for name in ("script_files", "css_files"):
        if isinstance(context.get(name), list):
            context[name][:] = unique_assets(context[name])


def _add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def _unnumbered_chapter_pages() -> dict[str, int]:
    """Docnames of chapter pages that the TOC leaves unnumbered, with their registry number."""
    from reprobook import chapters
    from reprobook.book import numbered_pages

    numbered = numbered_pages(chapters.repo_root() / "book" / "_toc.yml")
    pages = {f"book/runs/{c.name}/{c.stem}": c.number for c in chapters.CHAPTERS.values()}
    return {doc: n for doc, n in pages.items() if doc not in numbered}


def _prefix_figure_numbers(app, env) -> list[str]:
    """After Sphinx numbers the figures: ``Fig. N.k`` on the unnumbered chapter pages too."""
    changed = []
    for doc, number in _unnumbered_chapter_pages().items():
        for kind, numbers in env.toc_fignumbers.get(doc, {}).items():
            for node_id, num in list(numbers.items()):
                if len(num) == 1:
                    numbers[node_id] = (number, *num)
                    changed.append(doc)
    return sorted(set(changed))


def setup(app) -> dict[str, Any]:
    from reprobook import bibstyle

    bibstyle.register()
    app.connect("env-get-updated", _prefix_figure_numbers, priority=900)  # after the TOC collector's numbering
    app.connect("builder-inited", _add_static)
    app.add_css_file("reprobook.css")
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
