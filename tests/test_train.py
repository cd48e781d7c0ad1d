"""``reprobook train``: errors, resume, records, and two processes (gloo) matching one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reprobook.cli import main
from reprobook.engine import distributed
from reprobook.engine.loop import BatchStream

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ddp_cases import CASES  # noqa: E402

HERE = Path(__file__).resolve().parent
INTRO = ["train", "intro", "--preset", "book", "--smoke", "--quiet", "--set", "n_seeds=1", "--set", "steps=8"]


def test_train_writes_record_history_and_checkpoints(tmp_path):
    assert main([*INTRO, "--out", str(tmp_path / "r")]) == 0
    rec = json.loads((tmp_path / "r" / "results.json").read_text())
    assert rec["chapter"] == "intro" and rec["parameters"]["world_size"] == 1
    assert rec["parameters"]["preset"] == "book" and rec["parameters"]["steps"] == 8
    assert [c["id"] for c in rec["claims"]] == ["linear-above-chance", "mlp-beats-linear"]
    hist = json.loads((tmp_path / "r" / "history.json").read_text())
    assert set(hist) == {"linear-seed0", "mlp-seed0"}
    assert len(hist["mlp-seed0"]["metrics"]["loss"]["value"]) == 8
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == ["linear-seed0.pt", "mlp-seed0.pt"]


def test_train_refuses_existing_run_and_resumes(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main([*INTRO, "--out", out]) == 0
    first = json.loads((tmp_path / "r" / "history.json").read_text())
    assert main([*INTRO, "--out", out]) == 2
    assert "already holds a training run; pass --resume" in capsys.readouterr().err
    (tmp_path / "r" / "results.json").unlink()
    assert main([*INTRO, "--out", out, "--resume"]) == 0
    assert json.loads((tmp_path / "r" / "history.json").read_text()) == first
    assert main([*INTRO[:-1], "steps=9", "--out", out, "--resume"]) == 2
    assert "was started with other set" in capsys.readouterr().err


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    base = ["train", "intro", "--preset", "book", "--smoke", "--quiet", "--set", "n_seeds=1"]
    assert main([*base, "--set", "steps=12", "--out", full]) == 0
    # Stop after 6 of 12 steps: a shorter run leaves its checkpoint at step 6; resume it to 12.
    assert main([*base, "--set", "steps=6", "--out", cut]) == 0
    (Path(cut) / "train.json").unlink()
    assert main([*base, "--set", "steps=12", "--out", cut, "--resume"]) == 0
    a = json.loads((Path(full) / "history.json").read_text())["mlp-seed0"]["metrics"]["loss"]
    b = json.loads((Path(cut) / "history.json").read_text())["mlp-seed0"]["metrics"]["loss"]
    assert a == b


@pytest.mark.parametrize("argv, message", [
    (["train", "nope"], "unknown chapter 'nope' for train; available:"),
    (["train", "intro"], "unknown preset 'paper'; choose one of: book, long"),
    (["train", "intro", "--preset", "book", "--set", "nope=1"], "unknown setting 'nope' for chapter 'intro'"),
    (["train", "intro", "--preset", "book", "--set", "steps"], "--set expects KEY=VALUE"),
    (["train", "intro", "--preset", "book", "--set", "steps=many"], "steps"),
])
def test_train_bad_input_is_one_line(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_batch_stream_gives_each_rank_its_slice(monkeypatch):
    ds = torch.utils.data.TensorDataset(torch.arange(40))
    whole = [b[0] for _, b in zip(range(6), BatchStream(ds, batch_size=8, seed=3).batches())]
    parts = []
    for rank in range(2):
        monkeypatch.setattr(distributed, "_CTX", distributed.Context(rank=rank, world_size=2))
        parts.append([b[0] for _, b in zip(range(6), BatchStream(ds, batch_size=8, seed=3).batches())])
    monkeypatch.setattr(distributed, "_CTX", distributed.Context())
    for k in range(6):
        assert torch.equal(torch.cat([parts[0][k], parts[1][k]]), whole[k])
    monkeypatch.setattr(distributed, "_CTX", distributed.Context(rank=0, world_size=3))
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        BatchStream(ds, batch_size=8)
    monkeypatch.setattr(distributed, "_CTX", distributed.Context())


def test_global_batchnorm_equals_batchnorm_in_one_process():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3, momentum=0.3)
    gbn = distributed.GlobalBatchNorm(3, momentum=0.3)
    x = torch.randn(4, 3, 5, 5, requires_grad=True)
    y1, y2 = bn(x), gbn(x)
    assert torch.allclose(y1, y2, atol=1e-5)
    assert torch.allclose(bn.running_var, gbn.running_var, atol=1e-6)
    assert torch.allclose(bn.running_mean, gbn.running_mean, atol=1e-6)
    g1, = torch.autograd.grad(y1.square().sum(), x)
    g2, = torch.autograd.grad(y2.square().sum(), x)
    assert torch.allclose(g1, g2, atol=1e-4)
    bn.eval(), gbn.eval()
    assert torch.allclose(bn(x), gbn(x), atol=1e-5)


def _histories(root: Path, case: str) -> dict:
    return json.loads((root / case / "history.json").read_text())


def test_two_processes_match_one_process(tmp_path):
    """Every case run by torchrun on 2 gloo processes logs the losses of the 1-process run, step by step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    for cmd, out in (([sys.executable, str(HERE / "ddp_worker.py")], one),
                     ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       str(HERE / "ddp_worker.py")], two)):
        # A session of its own, so a hang kills torchrun's workers too, not only torchrun.
        proc = subprocess.Popen([*cmd, str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            pytest.fail(f"{' '.join(cmd[1:3])} did not finish in 300 s: {err[-2000:]}")
        assert proc.returncode == 0, err[-3000:]
    for case in CASES:
        a, b = _histories(one, case), _histories(two, case)
        assert set(a) == set(b), case
        for phase in a:
            assert set(a[phase]["metrics"]) == set(b[phase]["metrics"]), (case, phase)
            for metric, series in a[phase]["metrics"].items():
                other = b[phase]["metrics"][metric]
                assert series["step"] == other["step"], (case, phase, metric)
                x, y = torch.tensor(series["value"]), torch.tensor(other["value"])
                assert torch.allclose(x, y, rtol=1e-4, atol=1e-5), (case, phase, metric, (x - y).abs().max())
        r1 = json.loads((one / case / "results.json").read_text())
        r2 = json.loads((two / case / "results.json").read_text())
        assert r1["parameters"]["world_size"] == 1 and r2["parameters"]["world_size"] == 2
