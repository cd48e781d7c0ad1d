import json

import pytest

from reprobook.engine.results import Claim, Record, at_least, compare, mean_se


def test_mean_se_by_hand():
    m, se = mean_se([1.0, 2.0, 3.0])
    assert m == 2.0 and se == pytest.approx(1 / 3**0.5)
    assert mean_se([5.0]) == (5.0, 0.0)


def test_compare_rules():
    # d = 1.0, se = sqrt(1/3 + 1/3) = 0.816 -> 2 se = 1.63 > d: inconclusive
    assert compare([2, 3, 4], [1, 2, 3]).verdict == "inconclusive"
    assert compare([10, 10.1, 9.9], [1, 1.1, 0.9]).verdict == "holds"
    assert compare([1, 1.1, 0.9], [10, 10.1, 9.9]).verdict == "does not hold"
    assert compare([1, 1.1, 0.9], [10, 10.1, 9.9], direction="less").verdict == "holds"
    # single runs: sign of the difference decides, unless a minimum effect is asked for
    assert compare([0.51], [0.50]).verdict == "holds"
    assert compare([0.51], [0.50], min_effect=0.05).verdict == "inconclusive"
    v = compare([0.9, 0.92], [0.8, 0.81], names=("TAC", "XNOR"), scale=100, digits=1)
    assert v.measured.startswith("TAC 91.0 ± 1.4 (n=2) vs XNOR 80.5 ± 0.7 (n=2)") and "2·SE" in v.rule
    with pytest.raises(ValueError, match="direction"):
        compare([1], [2], direction="up")


def test_at_least():
    assert at_least([0.95, 0.96, 0.97], 0.9).verdict == "holds"
    assert at_least([0.5, 0.52], 0.9).verdict == "does not hold"
    assert at_least([0.89, 0.91], 0.9).verdict == "inconclusive"


def test_record_written_with_every_field(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_RUN_DIR", str(tmp_path))
    r = Record("intro", parameters={"preset": "book", "seed": 0}, seed=0)
    r.metrics = {"acc": [0.5, 0.6]}
    r.claim("c1", "A beats B", "paper says 1.0 (Table 1)", compare([2.0], [1.0]))
    with pytest.raises(ValueError, match="already recorded"):
        r.claim("c1", "again", "", compare([2.0], [1.0]))
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
