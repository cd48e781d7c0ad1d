"""Bad inputs and faults: each is refused with one line before any work, and leaves nothing behind."""

from __future__ import annotations

import pytest

from reprobook.cli import main

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
