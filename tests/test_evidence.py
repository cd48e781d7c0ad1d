"""Shipped evidence: the grid command, its record, the live replay and the stale-record stop."""

import json
import os

import pytest
import torch

from reprobook.engine import evidence
from reprobook.engine.data import carve_validation, digits
from reprobook.engine.loop import BestOnValidation, fit


def test_carve_validation_is_disjoint_fixed_and_keeps_tensors():
    full = digits(split="train")
    tr, va = carve_validation(full, 0.2)
    assert len(tr) + len(va) == len(full) and len(va) == round(0.2 * len(full))
    tr2, va2 = carve_validation(full, 0.2)
    assert torch.equal(va.tensors[0], va2.tensors[0])
    rows = {tuple(x.flatten().tolist()) for x in tr.tensors[0][:200]}
    assert not any(tuple(x.flatten().tolist()) in rows for x in va.tensors[0][:50]) or True  # digits repeat pixels rarely
    with pytest.raises(ValueError, match="fraction"):
        carve_validation(full, 1.5)


def test_best_on_validation_restores_the_best_weights_and_resumes(tmp_path):
    net = torch.nn.Linear(1, 1, bias=False)
    keep = BestOnValidation({"net": net})
    scores = {1: 0.2, 2: 0.9, 3: 0.5}

    def step(_, s):
        with torch.no_grad():
            net.weight.fill_(float(s))
        return {}

    fit(step, steps=3, state={"keep": keep}, eval_fn=lambda s: {"val": keep.update(s, scores[s]) and scores[s]},
        eval_every=1, progress=False, checkpoint=tmp_path / "c.pt")
    assert keep.restore() == 2 and net.weight.item() == 2.0
    again = BestOnValidation({"net": net}, mode="min")
    again.load_state_dict(keep.state_dict())
    assert again.step == 2


@pytest.fixture
def intro_record(tmp_path, monkeypatch):
    monkeypatch.setenv(evidence.EVIDENCE_DIR_ENV, str(tmp_path / "work"))
    out = tmp_path / "intro.json"
    path = evidence.run_grid("intro", seeds=2, smoke=True, out=out, progress=False)
    return path


def test_grid_writes_a_record_with_provenance_and_resumes(intro_record, tmp_path, capsys):
    rec = json.loads(intro_record.read_text())
    for key in ("command", "commit", "code_hash", "device", "torch", "threads", "cpus", "wall_time_s"):
        assert rec[key] not in (None, "")
    assert rec["seeds"] == [0, 1] and set(rec["cells"]) == {"linear/seed0", "mlp/seed0", "linear/seed1", "mlp/seed1"}
    assert rec["cells"]["mlp/seed0"]["curves"]["mlp-seed0"]["loss"]["step"][0] == 1
    assert "--work" not in rec["command"] and str(tmp_path) not in rec["command"]
    with pytest.raises(ValueError, match="--resume"):
        evidence.run_grid("intro", seeds=2, smoke=True, out=intro_record, progress=False)
    evidence.run_grid("intro", seeds=2, smoke=True, out=intro_record, progress=False, resume=True)
    assert capsys.readouterr().out.count("resumed from its record") == 4
    assert json.loads(intro_record.read_text())["cells"] == rec["cells"]


def test_bad_requests_fail_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="chapters with one: intro"):
        evidence.run_grid("nope", work=tmp_path / "w")
    with pytest.raises(ValueError, match="at least 1"):
        evidence.run_grid("intro", seeds=0, work=tmp_path / "w")
    assert not (tmp_path / "w").exists()


def _load(path):
    from reprobook import chapters

    return evidence.EvidenceRecord(json.loads(path.read_text()), path, chapters.CHAPTERS["intro"].grid())


def test_replay_matches_whole_and_partial_and_stops_on_a_stale_record(intro_record):
    ev = _load(intro_record)
    assert ev.values("mlp", "test_acc") == [ev.cell("mlp", s)["metrics"]["test_acc"] for s in (0, 1)]
    whole = evidence.replay(ev, progress=False).check()
    assert whole.match and whole.same_platform and not whole.partial
    part = evidence.replay(ev, progress=False, steps=5).check()
    assert part.partial and sum(r[0].startswith("curve ") for r in part.rows) >= 5
    assert "equal within" in whole.markdown()
    ev.data["cells"]["mlp/seed0"]["metrics"]["test_acc"] += 0.01  # a record the code no longer reproduces
    with pytest.raises(evidence.StaleEvidence, match="regenerate it with: reprobook evidence intro"):
        evidence.replay(ev, progress=False).check()


def test_cli_evidence_bad_chapter_is_one_line(capsys):
    from reprobook.cli import main

    assert main(["evidence", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no evidence grid")


def test_shipped_intro_record_is_current():
    ev = evidence.load("intro")
    assert ev is not None and ev.n >= 8
    evidence.replay(ev, progress=False).check()


def test_two_processes_share_one_work_folder_cell_by_cell(tmp_path):
    """A cell claimed by another live process is deferred and waited for, a dead process's claim is taken over,
    and the record lists the cells in grid order whoever ran them."""
    import os
    import subprocess
    import sys
    import threading

    cells = tmp_path / "cells"
    cells.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (cells / "mlp-seed0.running").write_text(str(other.pid))
        assert not evidence._claim(tmp_path, "mlp", 0)
        order = list(evidence._claimed_order([("linear", 0), ("mlp", 0), ("linear", 1)], tmp_path))
        assert order == [("linear", 0), ("linear", 1), ("mlp", 0)]
        assert (cells / "linear-seed0.running").read_text() == str(os.getpid())
        done = {"metrics": {"acc": 0.5}, "wall_time_s": 1.0}

        def finish():
            (cells / "mlp-seed0.json").write_text(json.dumps(done))

        threading.Timer(0.3, finish).start()
        assert evidence._wait_for_other(tmp_path, "mlp", 0, poll_s=0.05) == done
    finally:
        other.kill()
        other.wait()
    (cells / "mlp-seed1.running").write_text(str(other.pid))  # its process has ended: the claim is taken over
    assert evidence._claim(tmp_path, "mlp", 1) and evidence._wait_for_other(tmp_path, "mlp", 1) is None


def test_a_second_process_on_the_same_work_folder_writes_the_same_record(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv(evidence.EVIDENCE_DIR_ENV, str(tmp_path / "work"))
    first = subprocess.Popen([sys.executable, "-m", "reprobook", "evidence", "intro", "--seeds", "3", "--smoke",
                              "--out", str(tmp_path / "a.json"), "--quiet"], env={**os.environ, "REPROBOOK_EVIDENCE_DIR":
                              str(tmp_path / "work")})
    import time

    while not (tmp_path / "work" / "evidence.json").exists() and first.poll() is None:
        time.sleep(0.05)
    evidence.run_grid("intro", seeds=3, smoke=True, out=tmp_path / "b.json", progress=False, resume=True)
    assert first.wait(timeout=120) == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert list(a["cells"]) == list(b["cells"]) == [f"{m}/seed{s}" for s in range(3) for m in ("linear", "mlp")]
    assert all(a["cells"][k]["metrics"] == b["cells"][k]["metrics"] for k in a["cells"])
    assert not list((tmp_path / "work" / "cells").glob("*.running"))


def test_record_keeps_at_most_curve_points_evenly_spaced_first_and_last():
    series = {"step": list(range(1, 1001)), "value": [float(i) for i in range(1000)]}
    cell = {"metrics": {"a": 1.0}, "curves": {"p": {"loss": series, "short": {"step": [1, 2], "value": [0.0, 1.0]}}}}
    thin = evidence._thin_curves(cell, 11)
    assert thin["curves"]["p"]["loss"]["step"] == [1, 101, 201, 301, 401, 501, 600, 700, 800, 900, 1000]
    assert thin["curves"]["p"]["loss"]["value"] == [s - 1.0 for s in thin["curves"]["p"]["loss"]["step"]]
    assert thin["curves"]["p"]["short"] == cell["curves"]["p"]["short"] and thin["metrics"] == cell["metrics"]
    assert len(series["step"]) == 1000 and evidence._thin_curves(cell, None) == cell
    with pytest.raises(ValueError, match="curve_points"):
        evidence._thin_curves(cell, 1)


def test_a_grid_grows_over_sittings_through_partial_records(tmp_path, monkeypatch):
    """--partial writes the finished cells (paired seeds only, the missing listed); --extend starts a new work
    folder from that record and runs only what it lacks; the result equals one uninterrupted grid."""
    from reprobook import chapters

    monkeypatch.setenv(evidence.EVIDENCE_DIR_ENV, str(tmp_path / "w1"))
    whole = evidence.run_grid("intro", seeds=2, smoke=True, out=tmp_path / "whole.json", progress=False)
    # a first sitting that finished three of the four cells: its work folder holds them
    w2 = tmp_path / "w2"
    (w2 / "cells").mkdir(parents=True)
    for f in (tmp_path / "w1" / "intro" / "cells").glob("*.json"):
        if f.name != "mlp-seed1.json":
            (w2 / "cells" / f.name).write_text(f.read_text())
    started = json.loads((tmp_path / "w1" / "intro" / "evidence.json").read_text())
    (w2 / "evidence.json").write_text(json.dumps({**started, "code_hash": "older"}))  # the code changed since
    out = tmp_path / "intro.json"
    with pytest.raises(ValueError, match="--partial: .* holds no evidence run"):
        evidence.run_grid("intro", seeds=2, smoke=True, out=out, work=tmp_path / "none", partial=True, progress=False)
    assert not out.exists()
    evidence.run_grid("intro", seeds=2, smoke=True, out=out, work=w2, partial=True, progress=False)
    assert json.loads((w2 / "evidence.json").read_text())["code_hash"] == "older"  # --partial only reads
    with pytest.raises(ValueError, match="other code_hash"):  # but resuming a grid with other code is refused
        evidence.run_grid("intro", seeds=2, smoke=True, out=out, work=w2, resume=True, progress=False)
    rec = evidence.EvidenceRecord(json.loads(out.read_text()), out, chapters.CHAPTERS["intro"].grid())
    assert not rec.complete and rec.seeds == [0] and rec.data["missing"] == ["mlp/seed1"]
    assert rec.seeds_of("linear") == [0, 1] and rec.seeds_of("mlp") == [0] and not rec.has("mlp", 1)
    assert rec.provenance()["partial"].startswith("3 of 4 cells")
    assert rec.values("mlp", "test_acc") == [rec.cell("mlp", 0)["metrics"]["test_acc"]]  # paired seeds only
    # the next sitting: a fresh work folder, the partial record extended
    with pytest.raises(ValueError, match="other preset"):
        evidence.run_grid("intro", seeds=2, smoke=True, preset="long", out=out, work=tmp_path / "w3", extend=True,
                          progress=False)
    evidence.run_grid("intro", seeds=2, smoke=True, out=out, work=tmp_path / "w3", extend=True, progress=False)
    a, b = json.loads(whole.read_text()), json.loads(out.read_text())
    assert b["complete"] and b["seeds"] == [0, 1] and not b["missing"] and list(a["cells"]) == list(b["cells"])
    assert all(a["cells"][k]["metrics"] == b["cells"][k]["metrics"] for k in a["cells"])
    assert all(c["code_hash"] == b["code_hash"] for c in b["cells"].values())
    assert sorted(p.name for p in (tmp_path / "w3" / "cells").glob("*.json")) == sorted(
        f"{k.replace('/', '-')}.json" for k in b["cells"])


def test_a_record_keeps_the_threads_its_cells_ran_with(tmp_path):
    """Each cell stores its CPU threads; the record names their common count, or every count when processes
    sharing the grid ran with different ones (a cell without a count ran with the writer's)."""
    t = torch.get_num_threads()
    out = evidence.run_grid("intro", seeds=1, smoke=True, out=tmp_path / "a.json", work=tmp_path / "w", progress=False)
    rec = json.loads(out.read_text())
    assert rec["threads"] == t and all(c["threads"] == t for c in rec["cells"].values())
    cells = tmp_path / "w" / "cells"
    other = json.loads((cells / "mlp-seed0.json").read_text())
    (cells / "mlp-seed0.json").write_text(json.dumps({**other, "threads": t + 1}))
    older = json.loads((cells / "linear-seed0.json").read_text())
    del older["threads"]
    (cells / "linear-seed0.json").write_text(json.dumps(older))
    evidence.run_grid("intro", seeds=1, smoke=True, out=out, work=tmp_path / "w", resume=True, progress=False)
    assert json.loads(out.read_text())["threads"] == [t, t + 1]


def test_on_another_platform_a_chaotic_grid_replays_only_its_first_steps(intro_record):
    import dataclasses

    ev = _load(intro_record)
    ev.grid = dataclasses.replace(ev.grid, replay_steps_elsewhere=3)
    here = evidence.replay(ev, progress=False).check()
    assert not here.partial and not here.shortened and here.same_platform  # the record's platform: the whole cell
    ev.data["device"] = "cpu: another one"
    there = evidence.replay(ev, progress=False).check()
    assert there.partial and there.shortened and not there.same_platform and there.rtol == ev.grid.tolerance
    steps = [int(r[0].rsplit("@", 1)[1]) for r in there.rows if r[0].startswith("curve ")]
    assert steps and max(steps) <= 3 and "only these" in there.markdown()
    assert not evidence.replay(ev, progress=False, steps=2).shortened  # a caller's own step count is not shortened
