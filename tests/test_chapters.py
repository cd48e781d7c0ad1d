"""All chapters together: their packages import side by side (no clashing registrations) and
the registry's config paths resolve to presets with at least `book` and one `paper` preset."""

import importlib

from reprobook import chapters
from reprobook.engine.data import available


def test_every_chapter_imports_with_the_others_and_has_presets():
    for ch in chapters.available().values():
        importlib.import_module(ch.package)
        presets = ch.presets()
        assert presets == ch.config_presets(), f"{ch.name}: the registry's preset names differ from {ch.config}"
        assert "book" in presets, ch.name
        if ch.name != "intro":
            assert any(p.startswith("paper") for p in presets), ch.name
    for name, entry in available().items():
        assert entry.kind in ("embedded", "generated", "real"), name
