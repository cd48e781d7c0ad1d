"""Chapters 4-5 shipped evidence: one grid for both chapters, its claims, the frozen-Q control, the record replays."""

import pytest

from reprobook.dfq import claims, config, grid
from reprobook.engine import evidence, results
from reprobook.engine.evidence import EvidenceRecord, _plain_fit, run_grid


@pytest.fixture(scope="module")
def smoke_record(tmp_path_factory):
    d = tmp_path_factory.mktemp("dfq-grid")
    path = run_grid("adasg", seeds=2, smoke=True, preset="evidence", out=d / "adasg.json", work=d / "work",
                    progress=False)
    import json

    return EvidenceRecord(json.loads(path.read_text()), path, grid.GRID)


def test_grid_runs_in_smoke_and_feeds_both_chapters_claims(smoke_record):
    ev = smoke_record
    assert ev.n == 2 and set(ev.data["arms"]) == set(grid.ARMS)
    assert {"top1", "mean_h_ratio", "ptq_real", "fp_top1"} <= set(ev.cell("AdaDFQ-w2", ev.seeds[0])["metrics"])
    assert "r_drop" in ev.cell("AdaSG-constLR-w3", ev.seeds[1])["metrics"]
    both = {f"{c}-{w}" for w in ("w3a3", "w2a2") for c in ("gdfq-beats-ptq", "adasg-beats-ptq", "adasg-beats-gdfq")}
    for chapter, expected in (("adasg", both | {"q-step-lowers-adaptability"}),
                              ("adadfq", both | {f"{c}-{w}" for w in ("w3a3", "w2a2") for c in
                                                 ("adadfq-beats-ptq", "adadfq-beats-adasg", "adadfq-beats-gdfq")}
                               | {"adaptability-ordered", "largest-adaptability-not-best"})):
        record = results.Record(chapter, parameters={})
        claims.record_evidence_claims(record, ev, chapter)
        got = {c.id: c for c in record.claims}
        assert set(got) == expected
        for cid, c in got.items():
            claims.rule_for(cid)  # every recorded id has a falsifiable rule
            assert c.n == 2, cid  # paired over the record's seeds
        assert got["gdfq-beats-ptq-w3a3"].kind == "check" and got["gdfq-beats-ptq-w2a2"].kind == "check"
        assert got["adasg-beats-gdfq-w3a3"].kind == "paper" and got["adasg-beats-gdfq-w2a2"].kind == "extension"


def test_frozen_q_control_is_zero_and_the_constant_lr_run_is_traced():
    cfg = config.adasg_from_params(preset="evidence", smoke=True)
    frozen = grid.evidence_cell(cfg, grid.FROZEN_CONTROL, 0, fit=_plain_fit(None), progress=False)["metrics"]
    assert frozen["r_drop"] == 0.0 and frozen["r_max"] > 0  # probed after the warm-up, and Q never moved


def test_evidence_preset_schedule_is_long_enough():
    cfg = config.ADASG_PRESETS["evidence"]
    assert cfg.epochs * cfg.iters_per_epoch >= 4000 and cfg.lr_steps[-1] < cfg.epochs


def test_shipped_record_is_current():
    ev = evidence.load("adasg")
    assert ev is not None, "the shipped Chapter 4-5 record is missing: run reprobook evidence adasg --preset evidence"
    assert set(ev.data["arms"]) == set(grid.ARMS) and ev.n >= 5  # at least five paired seeds per arm
    evidence.replay(ev, progress=False, steps=5).check()
