"""Sphinx extension of the book: its stylesheet, and each page loads every script and stylesheet once.

``static/reprobook.css`` styles the verdict badges of the claims tables and gives figure captions
the body text's contrast.

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


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", _add_static)
    app.add_css_file("reprobook.css")
    app.connect("html-page-context", _page_context, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
