import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from reprobook.engine.checkpoint import CheckpointError
from reprobook.engine.loop import BatchStream, fit
from reprobook.engine.runtime import seed_everything


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 5, generator=g)
    return TensorDataset(x, (x.sum(1) > 0).long())


def _train(ckpt, steps, *, crash_at=None, ckpt_every=5):
    """A small net with dropout (uses the global RNG) and a LR schedule, trained by fit()."""
    seed_everything(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)

    def step(batch, i):
        if crash_at is not None and i == crash_at:
            raise KeyboardInterrupt
        x, y = batch
        loss = F.cross_entropy(net(x + 0.1 * torch.randn_like(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return {"loss": loss}

    h = fit(step, steps=steps, stream=BatchStream(_data(), batch_size=16, seed=3),
            state={"net": net, "opt": opt, "sched": sched}, checkpoint=ckpt, ckpt_every=ckpt_every,
            eval_fn=lambda i: {"w_norm": net[0].weight.norm()}, eval_every=4, progress=False)
    return net, h


def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path):
    ref_net, ref_h = _train(tmp_path / "ref.pt", 23)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "run.pt", 23, crash_at=13)  # last checkpoint at step 10
    net, h = _train(tmp_path / "run.pt", 23)
    for a, b in zip(ref_net.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)
    assert h.metrics == ref_h.metrics
    assert h.metrics["loss"]["step"] == list(range(1, 24))


def test_finished_run_is_reused_and_can_be_extended(tmp_path):
    net, h = _train(tmp_path / "r.pt", 10)
    net2, h2 = _train(tmp_path / "r.pt", 10)  # nothing left to do
    assert torch.equal(net[0].weight, net2[0].weight) and h2.metrics == h.metrics
    ref, _ = _train(tmp_path / "ref.pt", 15, ckpt_every=10)
    ext, _ = _train(tmp_path / "r.pt", 15)
    assert torch.equal(ref[0].weight, ext[0].weight)


def test_checkpoint_of_another_experiment_is_refused(tmp_path):
    _train(tmp_path / "r.pt", 5)
    other = torch.nn.Linear(3, 3)
    with pytest.raises(CheckpointError, match="lacks state"):
        fit(lambda b, i: None, steps=5, state={"other": other}, checkpoint=tmp_path / "r.pt", progress=False)
    with pytest.raises(CheckpointError, match="does not fit"):
        fit(lambda b, i: None, steps=5, state={"net": other}, checkpoint=tmp_path / "r.pt", progress=False)


def test_batch_stream_is_a_function_of_seed_and_step():
    ds = _data()
    s = BatchStream(ds, batch_size=16, seed=3)
    assert s.steps_per_epoch == 6
    it = s.batches(0)
    first = [next(it)[0] for _ in range(15)]
    resumed = s.batches(9)
    for k in range(9, 15):
        assert torch.equal(next(resumed)[0], first[k])
    epoch0 = torch.cat(first[:6])
    assert len({tuple(r.tolist()) for r in epoch0}) == 96  # no repeats within an epoch
    with pytest.raises(ValueError, match="batch_size"):
        BatchStream(ds, batch_size=0)


def test_terminal_progress_lines_only_under_reprobook_run(monkeypatch, capfd):
    from reprobook.engine import loop

    def run():
        return loop.fit(lambda batch, step: {"loss": 1.0 / step}, steps=30, desc="toy fit")

    monkeypatch.delenv(loop.TERMINAL_PROGRESS_ENV, raising=False)
    run()
    assert "toy fit: step" not in capfd.readouterr().err
    monkeypatch.setenv(loop.TERMINAL_PROGRESS_ENV, "1")
    monkeypatch.setattr(loop, "TERMINAL_EVERY_S", 0.0)
    run()
    lines = [ln for ln in capfd.readouterr().err.splitlines() if "toy fit: step" in ln]
    assert lines and lines[-1].startswith("  toy fit: step 30/30 (100 %)") and "loss=0.0333" in lines[-1]


def test_terminal_progress_throttles():
    import io

    from reprobook.engine.loop import TerminalProgress

    out = io.StringIO()
    p = TerminalProgress("t", 100, every_s=3600, stream=out)
    for _ in range(99):
        p.update()
    assert out.getvalue() == ""  # nothing before the interval, ...
    p.update()
    assert out.getvalue().strip().startswith("t: step 100/100 (100 %)")  # ... and the end always
