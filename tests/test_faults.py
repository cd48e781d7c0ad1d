"""Bad inputs and faults: each is refused with one line before any work, and leaves nothing behind."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_real import write_cifar, write_cub_birds

import reprobook.ffgan.data  # noqa: F401  (registers cub_birds)
from reprobook.cli import main
from reprobook.engine.data import DataRootError, get_dataset

INTRO = ["train", "intro", "--preset", "book", "--smoke", "--quiet", "--set", "n_seeds=1", "--set", "steps=4"]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.strip()


@pytest.mark.parametrize("chapter, setting, message", [
    ("intro", "lr=1e999", "lr must be a finite number, got inf"),
    ("intro", "lr=-1", "lr must be > 0, got -1.0"),
    ("intro", "momentum=-5", "momentum must be in [0, 1), got -5.0"),
    ("intro", "hidden=2000000000", "hidden must be at most 1,000,000,000"),
    ("adasg", "lr_q=-1", "lr_q must be > 0, got -1.0"),
])
def test_bad_float_and_size_settings_refused_before_training(tmp_path, capsys, chapter, setting, message):
    out = tmp_path / "r"
    assert main(["train", chapter, "--preset", "book", "--smoke", "--quiet", "--set", setting, "--out", str(out)]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


class _Payload:
    """Pickles as a call of ``open(marker, "w")``: loading it with plain pickle creates the marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_hostile_cifar_pickle_runs_nothing(tmp_path):
    folder = write_cifar(tmp_path / "data")
    marker = tmp_path / "ran"
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Payload(marker), b"labels": [0]}, f)
    with pytest.raises(DataRootError, match=r"data_batch_1 is not a CIFAR batch and was not loaded "
                                            r"\(it refers to (io|builtins)\.open, which a dataset file never holds\)"):
        get_dataset("cifar10", split="train", data_root=str(tmp_path / "data"))
    assert not marker.exists()
    with open(folder / "data_batch_1", "rb") as f:
        pickle.load(f)  # the same file read by plain pickle runs the payload
    assert marker.exists()
    assert len(get_dataset("cifar10", split="test", data_root=str(tmp_path / "data"))) == 4  # real batches load


def test_hostile_caption_pickle_runs_nothing(tmp_path):
    write_cub_birds(tmp_path)
    marker = tmp_path / "ran"
    with open(tmp_path / "birds" / "captions.pickle", "wb") as f:
        pickle.dump([[], [], {}, _Payload(marker)], f, protocol=2)
    with pytest.raises(DataRootError, match="cub_birds: metadata under .* was not loaded .*open, which"):
        get_dataset("cub_birds", split="train", data_root=str(tmp_path))
    assert not marker.exists()


def _fail_in(monkeypatch, model: str, exc: BaseException):
    """Make intro's trainer fail when it reaches ``model`` (after the other model's phase checkpoint)."""
    import reprobook.intro.trainer as trainer

    real = trainer.train_one

    def train_one(cfg, m, *args, **kwargs):
        if m == model:
            raise exc
        return real(cfg, m, *args, **kwargs)

    monkeypatch.setattr(trainer, "train_one", train_one)


def test_fresh_run_failing_late_removes_what_it_created(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _fail_in(monkeypatch, "mlp", RuntimeError("can't allocate memory"))
    assert main([*INTRO, "--out", str(out)]) == 2
    assert "can't allocate memory" in one_error_line(capsys)
    assert sorted(p.name for p in out.rglob("*")) == ["notes.txt"]  # linear's checkpoint is gone too
    assert main([*INTRO, "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_interrupted_or_resumed_run_keeps_its_checkpoints(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    _fail_in(monkeypatch, "mlp", KeyboardInterrupt())
    assert main([*INTRO, "--out", str(out)]) == 130
    kept = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert kept == ["checkpoints", "checkpoints/linear-seed0.pt", "train.json"]
    _fail_in(monkeypatch, "mlp", RuntimeError("boom"))
    assert main([*INTRO, "--out", str(out), "--resume"]) == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == kept


def test_second_train_into_a_busy_run_dir_is_refused(tmp_path, capsys):
    from reprobook.engine.lock import run_dir_lock

    out = tmp_path / "r"
    with run_dir_lock(out):
        assert main([*INTRO, "--out", str(out)]) == 2
        assert f"{out} is in use by another run (process " in one_error_line(capsys)
        assert [p.name for p in out.iterdir()] == [".reprobook.lock"]
    assert not any(out.iterdir())


def test_second_run_into_a_busy_out_dir_is_refused(tmp_path, capsys):
    from reprobook.engine.lock import run_dir_lock

    out = tmp_path / "o"
    with run_dir_lock(out):
        assert main(["run", "intro", "-p", "smoke", "True", "--out", str(out)]) == 2
        assert f"{out.resolve()} is in use by another run (process " in one_error_line(capsys)
        assert [p.name for p in out.iterdir()] == [".reprobook.lock"]


def test_corrupt_image_in_a_worker_names_the_file(tmp_path, capsys):
    """A DataLoader worker's DataRootError reaches the user as its own line, naming the file."""
    from torch.utils.data import Dataset

    from reprobook.engine.data.real import open_rgb
    from reprobook.engine.errors import one_line
    from reprobook.engine.loop import BatchStream

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    class Images(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return open_rgb(bad, "images", "<data_root>/*.jpg")

    with pytest.raises(DataRootError) as e:
        next(BatchStream(Images(), batch_size=2, num_workers=2).batches())
    assert str(e.value).startswith(f"images: cannot read image {bad} (")
    assert "\n" not in str(e.value)
    wrapped = DataRootError(f"Caught DataRootError in DataLoader worker process 1.\nOriginal Traceback (most recent "
                            f"call last):\n  File \"x.py\", line 1, in f\nreprobook.engine.data.DataRootError: "
                            f"images: cannot read image {bad}")
    assert one_line(wrapped) == f"images: cannot read image {bad}"


def _kernel_of(out: Path) -> int | None:
    """The pid of a process started with ``out`` as its run directory (the chapter kernel), if any."""
    from reprobook.engine.results import RUN_DIR_ENV

    needle = f"{RUN_DIR_ENV}={out}".encode()
    for d in Path("/proc").iterdir():
        try:  # the kernel itself, not a helper process started with the same environment
            if (d.name.isdigit() and needle in (d / "environ").read_bytes().split(b"\0")
                    and b"ipykernel" in (d / "cmdline").read_bytes()):
                return int(d.name)
        except OSError:
            continue
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the kernel through /proc")
def test_sigint_during_run_is_one_line_and_kills_the_kernel(tmp_path):
    out = (tmp_path / "o").resolve()
    argv = [sys.executable, "-m", "reprobook", "run", "intro", "-p", "smoke", "True", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while (kernel := _kernel_of(out)) is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if kernel is None:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            raise AssertionError(f"the chapter kernel never started (exit {proc.returncode}): {err[-2000:]}")
        time.sleep(1.5)  # the kernel is busy with the notebook's first cells
        os.kill(proc.pid, signal.SIGINT)  # the reprobook process alone, not its kernel
        try:
            _, err = proc.communicate(timeout=8)
        except subprocess.TimeoutExpired:  # a user presses Ctrl-C again; the answer must still be one line
            os.kill(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and not ln.startswith("Executing")]
    assert proc.returncode == 130 and lines == ["error: interrupted"], err[-3000:]
    with pytest.raises(ProcessLookupError):
        os.kill(kernel, 0)


@pytest.mark.parametrize("argv, message", [
    (["train", "intro", "--preset", "book", "--data-root", "junk"],
     "chapter 'intro' does not read data_root with preset 'book'"),
    (["train", "adasg", "--preset", "book", "--data-root", "junk"],
     "chapter 'adasg' does not read data_root with preset 'book'"),
    (["run", "switokd", "-p", "data_root", "junk"], "chapter 'switokd' does not read data_root with preset 'book'"),
    (["run", "intro", "-p", "data_root", "junk"], "chapter 'intro' does not read data_root with preset 'book'"),
    (["run", "intro", "-p", "hidden", "0"], "hidden must be >= 1, got 0"),
    (["run", "tac", "-p", "prune_rate", "1.5"], "prune_rate must be in [0, 1], got 1.5"),
])
def test_unused_data_root_and_bad_notebook_settings_refused(tmp_path, capsys, argv, message):
    out = tmp_path / "r"
    assert main([*argv, "--out", str(out)]) == 2
    assert message in one_error_line(capsys)
    assert not out.exists()


def test_an_interrupt_during_execution_kills_the_kernel_and_is_remembered():
    """Ctrl-C while papermill runs: the kernel dies at once and the run then raises KeyboardInterrupt itself;
    a second Ctrl-C, or one with no kernel to stop, raises at once."""
    from reprobook.engine.execute import _InterruptKillsKernel

    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    before = signal.getsignal(signal.SIGINT)  # default, or ignored in a test worker process

    class Manager:
        instances = [type("KM", (), {"provisioner": type("P", (), {"process": kernel})()})()]

    try:
        with _InterruptKillsKernel(Manager) as seen:
            signal.raise_signal(signal.SIGINT)
            assert seen.seen and kernel.poll() is not None
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt), _InterruptKillsKernel(type("M", (), {"instances": []})):
            signal.raise_signal(signal.SIGINT)
    finally:
        kernel.kill()
        kernel.wait()
    assert signal.getsignal(signal.SIGINT) == before  # the handler is put back
