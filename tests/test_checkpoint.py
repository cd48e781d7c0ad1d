import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from reprobook.engine import checkpoint as ck
from reprobook.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_roundtrip(tmp_path):
    obj = {"w": torch.arange(6.0).view(2, 3), "step": 7, "name": "x", "hist": [1.0, 2.0]}
    p = save_checkpoint(obj, tmp_path / "sub" / "a.pt")
    got = load_checkpoint(p)
    assert torch.equal(got["w"], obj["w"]) and got["step"] == 7 and got["hist"] == [1.0, 2.0]
    assert [f.name for f in p.parent.iterdir()] == ["a.pt"]  # no temporary file left


def test_written_files_get_the_mode_a_plain_open_gives(tmp_path):
    """``mkstemp`` creates 0600 files; a written checkpoint or record gets 0666 minus the umask, as ``open``."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    for p in (save_checkpoint({"a": 1}, tmp_path / "a.pt"), ck.write_json_atomic({"a": 1}, tmp_path / "a.json")):
        assert p.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_failure_while_writing_keeps_old_checkpoint(tmp_path, monkeypatch):
    p = save_checkpoint({"v": torch.ones(3)}, tmp_path / "a.pt")

    def half_write(obj, f):
        f.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt  # the process is interrupted mid-write

    monkeypatch.setattr(ck.torch, "save", half_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"v": torch.zeros(3)}, p)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(p)["v"], torch.ones(3))
    assert [f.name for f in tmp_path.iterdir()] == ["a.pt"]


KILL_WRITER = """
import sys, torch
from reprobook.engine.checkpoint import save_checkpoint
big = torch.randn(4_000_000)
i = 0
while True:
    save_checkpoint({"i": i, "big": big}, sys.argv[1])
    print(i, flush=True)
    i += 1
"""


def test_no_truncated_checkpoint_after_kill(tmp_path):
    target = tmp_path / "c.pt"
    proc = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "0"  # one complete checkpoint exists
        time.sleep(0.15)  # now it is in the middle of writing another one
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    got = load_checkpoint(target)  # complete and loadable, whichever version it is
    assert got["big"].numel() == 4_000_000 and got["i"] >= 0
    save_checkpoint({"i": -1}, target)  # the next save removes the killed writer's temporary
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_orphan_temporaries_removed_on_next_save_or_resume(tmp_path):
    from reprobook.engine.loop import fit

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "c.pt"
    mine, other = tmp_path / f".c.pt.{os.getpid()}.abc.tmp", tmp_path / ".d.pt.1.abc.tmp"
    orphans = [tmp_path / f".c.pt.{dead.pid}.x1y2.tmp", tmp_path / ".c.pt.k3j9_2la.tmp"]  # dead writer, old name
    for p in [*orphans, mine, other]:
        p.write_bytes(b"partial")
    save_checkpoint({"a": 1}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["c.pt", mine.name, other.name])
    fit(lambda batch, step: {}, steps=2, checkpoint=tmp_path / "f.pt", progress=False)
    orphan = tmp_path / f".f.pt.{dead.pid}.x1y2.tmp"
    orphan.write_bytes(b"partial")
    fit(lambda batch, step: {}, steps=2, checkpoint=tmp_path / "f.pt", progress=False)  # resumes, saves nothing
    assert not orphan.exists()


def test_corrupted_and_foreign_files_give_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    save_checkpoint({"v": torch.ones(100)}, bad)
    bad.write_bytes(bad.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="corrupted") as e:
        load_checkpoint(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


class Evil:
    pass


def test_weights_only_refuses_pickled_objects(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"obj": Evil()}, p)
    with pytest.raises(CheckpointError, match="corrupted or not a reprobook checkpoint"):
        load_checkpoint(p)


def test_run_hash_covers_engine_and_own_chapter_only():
    from reprobook.engine.checkpoint import package_digest

    assert package_digest("reprobook.tac") != package_digest("reprobook.m2net") != package_digest()
    assert package_digest("reprobook.tac") == package_digest("reprobook.tac")
