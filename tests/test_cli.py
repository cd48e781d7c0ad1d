import json
import subprocess
import sys

import pytest

from reprobook import chapters
from reprobook.cli import main


def test_list_one_line_per_chapter_name_first(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(chapters.available())


@pytest.mark.parametrize("argv, message", [
    (["run", "nope"], "error: unknown chapter 'nope'; available: intro"),
    (["run", "intro", "-p", "colour", "red"], "error: unknown parameter 'colour' for chapter 'intro'; allowed: preset, seed"),
    (["run", "intro", "-p", "preset", "huge"], "error: unknown preset 'huge' for chapter 'intro'; choose one of: book, long"),
    (["run", "intro", "-p", "seed", "abc"], "error: parameter 'seed' of chapter 'intro' must be int"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_run_writes_notebook_and_record_then_skips(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "reprobook.cli", "run", "intro", "-p", "smoke", "True", "-p", "seed", "2",
           "--out", str(out)]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    rec = json.loads((out / "results.json").read_text())
    assert rec["chapter"] == "intro" and rec["seed"] == 2 and rec["parameters"]["smoke"] is True
    assert {c["verdict"] for c in rec["claims"]} <= {"holds", "does not hold", "inconclusive"}
    nb = json.loads((out / "00_intro.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert list((out / "checkpoints").glob("*.pt"))
    second = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert second.returncode == 0 and "up to date" in second.stdout
