import json

from reprobook.book import scoreboard_markdown
from reprobook.engine.results import Record, compare


def test_scoreboard_collects_records(tmp_path):
    r = Record("intro", parameters={}, seed=0)
    r.claim("c", "MLP beats linear", "—", compare([0.9, 0.91], [0.5, 0.52]))
    r.save(tmp_path / "intro")
    md = scoreboard_markdown(tmp_path)
    assert "| 0. [The toolkit" in md and "| 1 | 1 | 0 | 0 |" in md
    assert "✅ holds" in md and "MLP beats linear" in md
    summary, details = md.split("<!-- details -->")
    assert "MLP beats linear" not in summary


def test_scoreboard_marks_missing_runs(tmp_path):
    assert "not run" in scoreboard_markdown(tmp_path)
