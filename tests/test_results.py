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
