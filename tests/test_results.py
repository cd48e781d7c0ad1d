import json

import pytest

from reprobook.engine import stats
from reprobook.engine.results import Claim, Record


def test_record_written_with_every_field(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    r = Record("intro", parameters={"preset": "book", "seed": 0}, seed=0)
    r.metrics = {"acc": [0.5, 0.6]}
    r.claim("c1", "A beats B", "paper says 1.0 (Table 1)", stats.paired([2.0, 2.1], [1.0, 1.0]))
    with pytest.raises(ValueError, match="already recorded"):
        r.claim("c1", "again", "", stats.paired([2.0, 2.1], [1.0, 1.0]))
    path = r.save()
    assert path == tmp_path / "results.json"
    rec = json.loads(path.read_text())
    for key in ("chapter", "parameters", "seed", "metrics", "claims", "versions", "git_commit", "wall_time_s"):
        assert key in rec
    assert {"id", "claim", "paper", "measured", "rule", "verdict", "kind", "n", "estimate", "ci", "test", "margin",
            "detectable"} <= set(rec["claims"][0])
    assert rec["claims"][0]["verdict"] == "holds" and rec["versions"]["torch"]
    assert "| A beats B |" in r.claims_markdown()
    with pytest.raises(ValueError, match="verdict must be one of"):
        Claim("x", "c", "p", "m", "r", "true")


def test_notebook_opened_from_notebooks_folder_writes_under_runs_chapter(tmp_path, monkeypatch):
    from reprobook.engine import results as res

    monkeypatch.delenv(res.RUN_DIR_ENV, raising=False)
    monkeypatch.setattr(res, "_chapter", None)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text("title: t\n")
    monkeypatch.chdir(tmp_path / "notebooks")
    assert res.run_dir() == tmp_path / "notebooks"  # no record yet: nothing names the chapter
    rec = res.Record("tac", parameters={})
    assert res.run_dir() == tmp_path / "runs" / "tac"
    assert rec.save() == tmp_path / "runs" / "tac" / "results.json"
    assert not (tmp_path / "notebooks" / "results.json").exists()
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    assert res.run_dir() == other  # any other folder: the working directory, as before
    monkeypatch.setenv(res.RUN_DIR_ENV, str(tmp_path / "out"))
    assert res.run_dir() == tmp_path / "out"
