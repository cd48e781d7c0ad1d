"""Bad inputs and faults: each is refused with one line before any work, and leaves nothing behind."""

from __future__ import annotations

import pickle

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
